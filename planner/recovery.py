"""Lost nodes: a worker that dies while it holds nodes of a run.

Celery's defaults acknowledge a message when its task starts, and Redis
gives a prefetched message back only after ``visibility_timeout`` (an hour):
a worker killed mid-run takes the nodes it held with it. planner notices
without any worker setting: each worker refreshes a short-lived liveness key
(:mod:`planner.journal`, from ``planner.tasks``), the run's journal says
which worker received or started each node, and when the key of a worker
holding nodes lapses (it was seen alive before), each of its unfinished nodes
is sent again:

- a message it received but had not acknowledged (prefetched; or running,
  with ``task_acks_late``) is put back on its queue from the Redis broker's
  ``unacked`` hash, exactly as it was (RabbitMQ does this by itself when the
  connection drops);
- exact dispatch: any other node is published again from its stored spec
  (same task id, inputs from its predecessors' stored results); a node the
  dead worker finished whose successors it had not sent yet is advanced
  again (claims and sent marks make both idempotent);
- canvas: a node whose message is gone cannot be rebuilt (its message carried
  the rest of the canvas): it ends LOST, its descendants SKIPPED, and
  ``planner run --resume REPORT`` finishes the run.

Delivery is therefore at least once: a node whose worker died after running
it may run twice (the report says ``"runs": 2``).

>>> recovery = Recovery(plan, app, watcher, exact_run)   # doctest: +SKIP
>>> changed = recovery.check(now)                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging

from .journal import MEMORY
from .outcome import SUCCESS, UNFINISHED

logger = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds between looks at the holders' liveness


class Recovery:
    """Notices the workers that died holding nodes of the run followed by
    ``watcher`` and sends those nodes again (see the module's docstring)."""

    def __init__(self, plan, app, watcher, exact_run: str | None):
        self.plan, self.app, self.watcher, self.exact_run = plan, app, watcher, exact_run
        self.journal = watcher.journal
        self.enabled = self.journal is not None and self.journal is not MEMORY
        scheme = str(app.conf.broker_url or "").split("://", 1)[0].lower()
        self.redis_broker = scheme in ("redis", "rediss", "sentinel", "sentinels")
        self.amqp_broker = scheme in ("amqp", "amqps", "pyamqp", "librabbitmq")
        self.index = {name: i for i, name in enumerate(plan.graph)}
        self.seen_alive: set[str] = set()
        self.dead: set[str] = set()
        self.notes: list[str] = []  # one line per worker found dead, for the report
        self._next = 0.0

    def check(self, now: float) -> list[str]:
        """Look at the liveness of the workers holding unfinished nodes
        (once a second at most); recover the nodes of any that died. Returns
        the nodes that reached a final state (LOST, SKIPPED) here."""
        if not self.enabled or now < self._next:
            return []
        self._next = now + CHECK_EVERY
        holders = set(self.watcher.holders.values())
        if not holders:
            return []
        alive = self.journal.alive(sorted(holders))
        changed: list[str] = []
        for worker, answering in alive.items():
            if answering:
                self.seen_alive.add(worker)
                self.dead.discard(worker)
            elif worker in self.seen_alive and worker not in self.dead:
                self.dead.add(worker)
                changed += self.recover(worker)
        return changed

    def recover(self, worker: str) -> list[str]:
        """Send again what ``worker`` (dead) held; returns the nodes that
        ended LOST or SKIPPED."""
        watcher = self.watcher
        held = [name for name, holder in list(watcher.holders.items()) if holder == worker]
        restored = self._restore_unacked({watcher.messages[name]: name for name in held if name in watcher.messages})
        resent, lost, changed = [], [], []
        for name in held:
            node = watcher.nodes[name]
            if node.state != UNFINISHED or name in restored:
                continue
            started = node.running or node.started is not None
            if not started and self.amqp_broker:
                continue  # RabbitMQ requeued it when the worker's connection dropped
            if self.exact_run is not None and self._resend(name):
                resent.append(name)
            else:
                lost.append(name)
        for name in held:
            if name in restored or name in resent:
                watcher.holders.pop(name, None)
                watcher._set_running(watcher.nodes[name], False)
        advanced = self._advance_finished(worker) if self.exact_run is not None else []
        for name in lost:
            changed += watcher.lose(name, f"lost: worker {worker} stopped answering while it held this node, and its "
                                          "message cannot be sent again under the canvas strategy (run --resume "
                                          "finishes the run)")
        parts = [f"{len(items)} {what}" for items, what in ((restored, "put back on their queue"),
                                                            (resent, "sent again"), (advanced, "advanced"),
                                                            (lost, "lost")) if items]
        self.notes.append(f"worker {worker} stopped answering while it held {len(held)} node"
                          f"{'s' * (len(held) != 1)}: {', '.join(parts) or 'nothing to do'}")
        return changed

    # --- the ways back ---

    def _restore_unacked(self, messages: dict[str, str]) -> set[str]:
        """Put back on their queues the messages (id → node) the Redis broker
        still keeps as unacknowledged; returns their nodes."""
        if not self.redis_broker or not messages:
            return set()
        restored = set()
        try:
            with self.app.connection_for_write() as connection:
                channel = connection.default_channel
                client = channel.client
                for tag, raw in client.hscan_iter(channel.unacked_key, count=1000):
                    with contextlib.suppress(ValueError, TypeError, KeyError, IndexError, AttributeError):
                        payload = json.loads(raw)[0]
                        message_id = payload["headers"]["id"]
                        if message_id in messages:
                            channel.qos.restore_by_tag(tag, client)
                            restored.add(messages[message_id])
        except Exception:  # the broker could not be read: the nodes are sent again instead
            logger.warning("planner: could not read the broker's unacknowledged messages", exc_info=True)
        return restored

    def _inputs(self, name: str) -> list | None:
        """The node's predecessors' results, in ``graph.predecessors`` order
        (None when one is not SUCCESS)."""
        nodes = self.watcher.nodes
        preds = [nodes[str(p)] for p in self.plan.graph.predecessors(name)]
        if any(pred.state != SUCCESS for pred in preds):
            return None
        return [pred.result for pred in preds]

    def _resend(self, name: str) -> bool:
        from . import exact

        results = self._inputs(name)
        if results is None:
            return False
        try:
            return exact.resend(self.app, self.exact_run, self.index[name], results)
        except Exception:
            logger.warning("planner: could not send node %s again", name, exc_info=True)
            return False

    def redrive(self) -> list[str]:
        """After the backend came back from an outage: advance again every
        finished node whose successors wait unsent (a worker could not send
        them while it was down); exact dispatch only, idempotent."""
        if self.exact_run is None:
            return []
        sent = self._advance_finished(None)
        if sent:
            self.notes.append(f"after the result backend came back, {len(sent)} node{'s' * (len(sent) != 1)} "
                              "waiting for a finished predecessor were sent")
        return sent

    def _advance_finished(self, worker: str | None) -> list[str]:
        """Nodes ``worker`` (any, with None) finished whose successors it may
        not have sent: advance them again (idempotent); returns the
        successors sent."""
        from . import exact

        nodes, graph, sent = self.watcher.nodes, self.plan.graph, []
        for name, node in nodes.items():
            if node.state != SUCCESS or node.reused or (worker is not None and node.worker != worker):
                continue
            waiting = [str(s) for s in graph.successors(name)
                       if nodes[str(s)].state == UNFINISHED and str(s) not in self.watcher.holders]
            if waiting:
                with contextlib.suppress(Exception):
                    sent += exact.advance(self.app, self.exact_run, self.index[name], node.result)
        return sent
