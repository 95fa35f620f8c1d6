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
  the rest of the canvas), so the canvas is stopped (what has not run is
  revoked), the nodes running on live workers finish, and every unfinished
  node is sent by exact dispatch, under a new task id, its finished
  predecessors' results as inputs. Where the graph's signatures are not at
  hand (a follower attached by id) the node ends LOST instead, its
  descendants SKIPPED, and ``planner run --resume REPORT`` finishes the run.

Delivery is therefore at least once: a node whose worker died after running
it may run twice (the report says ``"runs": 2``).

>>> recovery = Recovery(plan, app, watcher, exact_run, signatures)   # doctest: +SKIP
>>> changed = recovery.check(now)                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging

import networkx as nx

from .journal import HEAD_HEADER, MEMORY
from .outcome import SUCCESS, UNFINISHED

logger = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds between looks at the holders' liveness
RESTORE_AFTER = 10.0  # seconds a run stands still after an outage before unacknowledged messages are put back


class Recovery:
    """Notices the workers that died holding nodes of the run followed by
    ``watcher`` and sends those nodes again (see the module's docstring)."""

    def __init__(self, plan, app, watcher, exact_run: str | None, signatures: dict | None = None):
        self.plan, self.app, self.watcher, self.exact_run = plan, app, watcher, exact_run
        self.signatures = signatures or {}  # as sent (tagged with the run): a canvas goes on by exact dispatch
        self.moved: dict[str, str] = {}  # nodes sent again under new task ids (told to other followers)
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
        self._pending: set[str] | None = None  # a canvas going on by exact dispatch once these finished

    def check(self, now: float) -> list[str]:
        """Look at the liveness of the workers holding unfinished nodes
        (once a second at most); recover the nodes of any that died. Returns
        the nodes that reached a final state (LOST, SKIPPED) here."""
        if not self.enabled or now < self._next:
            return []
        self._next = now + CHECK_EVERY
        if self._pending is not None and all(self.watcher.nodes[name].state != UNFINISHED for name in self._pending):
            self._send_rest()
        # Every worker seen, not only those holding nodes now: one seen alive before it died is known dead.
        workers = self.watcher.workers | set(self.watcher.holders.values())
        if not workers:
            return []
        alive = self.journal.alive(sorted(workers))
        changed: list[str] = []
        for worker, answering in alive.items():
            if answering:
                self.seen_alive.add(worker)
                self.dead.discard(worker)
            elif worker in self.seen_alive and worker not in self.dead:
                self.dead.add(worker)
                changed += self.recover(worker)
            elif worker in self.dead and worker in self.watcher.holders.values():
                # A pool process orphaned by its worker's death went on with a segment and took its next
                # node: that one is sent again too (it may run twice, and says so).
                changed += self.recover(worker)
        return changed

    def recover(self, worker: str) -> list[str]:
        """Send again what ``worker`` (dead) held; returns the nodes that
        ended LOST or SKIPPED."""
        watcher = self.watcher
        held = [name for name, holder in list(watcher.holders.items()) if holder == worker]
        if self.exact_run is None and self._continue_exactly(held):
            # A canvas may also have lost messages of Celery's own (a chord's body, a group's header) that no
            # event names: whatever the worker held, the rest goes on by exact dispatch.
            self.notes.append(f"worker {worker} stopped answering while it held {len(held)} node"
                              f"{'s' * (len(held) != 1)}: the rest of the canvas goes on by exact dispatch")
            return []
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
        for name in held:  # handled: a node it still holds later is a new one (see check)
            watcher.holders.pop(name, None)
            if name in restored or name in resent:
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

    # --- a canvas that lost a node goes on by exact dispatch ---

    def _continue_exactly(self, lost: list[str]) -> bool:
        """The canvas lost ``lost`` (their messages carried the rest of it):
        revoke every unfinished node not running on a live worker (under a
        new task id each, from now on), let the running ones finish, then
        send the rest by exact dispatch, fed with the stored results (see
        :meth:`_send_rest`). False when the run cannot (no signatures here)."""
        from celery import uuid

        watcher, nodes = self.watcher, self.watcher.nodes
        if self.exact_run is not None or self._pending is not None or set(self.signatures) != set(self.plan.graph):
            return False
        running = {name for name in watcher.unfinished if nodes[name].running and name not in lost
                   and watcher.holders.get(name) not in self.dead}
        moving = [name for name in watcher.unfinished if name not in running]
        new_ids = {name: uuid() for name in moving}
        if watcher.run_id:  # before the revokes: other followers must not take them for failures
            from .record import store_moved

            self.moved.update(new_ids)
            with contextlib.suppress(Exception):
                store_moved(self.app, watcher.run_id, self.moved)
        with contextlib.suppress(Exception):
            self.app.control.revoke([nodes[name].task_id for name in moving])
        for name in moving:  # events about the old ids (a revoked message dropped, an orphan's result) are ignored
            node = nodes[name]
            watcher.by_task.pop(node.task_id, None)
            node.task_id, node.started, node.worker = new_ids[name], None, None
            watcher.by_task[node.task_id] = node
            watcher.holders.pop(name, None)
            watcher.messages.pop(name, None)
            watcher._set_running(node, False)
        self._pending = running
        return True

    def _send_rest(self) -> None:
        """Once the nodes that were running finished: an exact run of every
        unfinished node, its finished predecessors' results as inputs."""
        from types import SimpleNamespace

        from . import exact

        watcher, nodes, graph = self.watcher, self.watcher.nodes, self.plan.graph
        self._pending = None
        rest = set(watcher.unfinished)
        if not rest:
            return
        keep = rest | {str(p) for name in rest for p in graph.predecessors(name)}
        part = nx.DiGraph()  # edges added per target, predecessors in the graph's order (the inputs' order)
        part.add_nodes_from((name, graph.nodes[name]) for name in graph if name in keep)
        part.add_edges_from((p, name) for name in part for p in graph.predecessors(name) if p in keep)
        signatures = {name: self.signatures[name] for name in part}
        done = {name: nodes[name].result for name in part if name not in rest}
        self.exact_run = exact.submit(SimpleNamespace(graph=part), signatures, self.app,
                                      {name: nodes[name].task_id for name in part}, done)
        self.index = {name: i for i, name in enumerate(part)}
        self.notes.append(f"{len(rest)} node{'s' * (len(rest) != 1)} of the canvas sent again by exact dispatch")

    # --- the ways back ---

    def _restore_unacked(self, messages: dict[str, str], by_node: bool = False) -> set[str]:
        """Put back on their queues the messages (id → node; with
        ``by_node``, node task id → node, matching a segment by its first
        node) the Redis broker still keeps as unacknowledged; returns their
        nodes."""
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
                        if by_node:
                            message_id = payload["headers"].get(HEAD_HEADER) or message_id
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

    def redrive(self, quiet: float = 0.0) -> list[str]:
        """After the backend came back from an outage, while the run does not
        move (``quiet`` seconds so far): advance again every finished node
        whose successors wait unsent (a worker could not send them while it
        was down; exact dispatch, idempotent); after :data:`RESTORE_AFTER`
        seconds, put this run's messages a worker took but never
        acknowledged back on their queues (its connection dropped with them)."""
        if quiet >= RESTORE_AFTER and self.redis_broker:
            waiting = {node.task_id: name for name, node in self.watcher.nodes.items() if node.state == UNFINISHED}
            restored = self._restore_unacked(waiting, by_node=True)
            if restored:
                self.notes.append(f"after the outage, {len(restored)} unacknowledged message"
                                  f"{'s' * (len(restored) != 1)} put back on their queue")
        if self.exact_run is None:
            return []
        if quiet >= RESTORE_AFTER:
            self._resend_forgotten()
        sent = self._advance_finished(None)
        if sent:
            self.notes.append(f"after the result backend came back, {len(sent)} node{'s' * (len(sent) != 1)} "
                              "waiting for a finished predecessor were sent")
        return sent

    def _resend_forgotten(self) -> None:
        """Exact nodes the journal says a live worker holds, that no worker
        runs, has reserved or scheduled (asked once): a task that ended while
        the backend was down could store neither its result nor its end, and
        its message was acknowledged. Sent again."""
        watcher = self.watcher
        held = {watcher.nodes[name].task_id: name for name in watcher.holders if watcher.nodes[name].state == UNFINISHED}
        if not held:
            return
        try:
            inspector = self.app.control.inspect(timeout=1.0)
            answers = [inspector.active(), inspector.reserved(), inspector.scheduled()]
        except Exception:
            return
        if any(answer is None for answer in answers):
            return  # a worker did not answer: nothing can be told
        busy = {(task.get("request", task) or {}).get("id") for answer in answers for tasks in answer.values()
                for task in tasks or ()}
        resent = [name for task_id, name in held.items() if task_id not in busy and self._resend(name)]
        for name in resent:
            watcher.holders.pop(name, None)
            watcher._set_running(watcher.nodes[name], False)
        if resent:
            self.notes.append(f"after the outage, {len(resent)} node{'s' * (len(resent) != 1)} no worker held any "
                              "more sent again")

    def _advance_finished(self, worker: str | None) -> list[str]:
        """Nodes ``worker`` (any, with None) finished whose successors it may
        not have sent: advance them again (idempotent); returns the
        successors sent."""
        from . import exact

        nodes, graph, sent = self.watcher.nodes, self.plan.graph, []
        for name, node in nodes.items():
            if node.state != SUCCESS or node.reused or (worker is not None and node.worker != worker) \
                    or name not in self.index:
                continue
            waiting = [str(s) for s in graph.successors(name)
                       if nodes[str(s)].state == UNFINISHED and str(s) not in self.watcher.holders]
            if waiting:
                with contextlib.suppress(Exception):
                    sent += exact.advance(self.app, self.exact_run, self.index[name], node.result)
        return sent
