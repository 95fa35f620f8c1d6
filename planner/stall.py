"""No silent waits: noticing a run that stands still.

A run *stands still* when no node has started or finished for a while and
no worker holds any of its nodes: its messages sit in queues nobody
consumes (a worker without ``-Q billing``), or were lost. After
:data:`NOTICE` seconds the progress display says which nodes wait on which
queue; after ``limit`` seconds (``--stall-timeout``, default
:data:`DEFAULT_STALL_TIMEOUT`; ``0`` or ``None``: never) the run ends with
that one line. A node that runs for an hour is not a stall: a worker holds it.

>>> import networkx as nx
>>> from planner.outcome import NodeRun
>>> plan = Plan(nx.DiGraph([("fetch", "charge")]), None)
>>> nodes = {"fetch": NodeRun("fetch", "1", state="SUCCESS"), "charge": NodeRun("charge", "2")}
>>> guard = StallGuard(plan, nodes, {"charge": "billing"}, limit=30)
>>> guard.observe(0.0); guard.observe(12.0)
>>> guard.waiting
"nothing started or finished for 12 s and no worker holds a node: 1 node waits on queue 'billing' (charge)"
>>> guard.observe(31.0); guard.stalled
True
"""

from __future__ import annotations

from typing import Mapping

from .outcome import SUCCESS, UNFINISHED, NodeRun
from .plan import Plan

DEFAULT_STALL_TIMEOUT = 180.0  # seconds without progress before a run ends (exit 2)
NOTICE = 10.0  # seconds without progress before the progress display says what waits where


class StallGuard:
    """Watches ``nodes`` (updated by the follower) for a run standing still.
    ``queues`` maps node names to the queue their message goes to."""

    def __init__(self, plan: Plan, nodes: Mapping[str, NodeRun], queues: Mapping[str, str | None],
                 limit: float | None = DEFAULT_STALL_TIMEOUT, notice: float = NOTICE):
        self.plan, self.nodes, self.queues = plan, nodes, queues
        self.limit = limit or None
        self.notice = min(notice, self.limit) if self.limit else notice
        self.dependencies = plan.dependencies()
        self.waiting: str | None = None  # what waits where, once the run stood still for ``notice`` s
        self.changed = False  # ``waiting`` changed at the last observation
        self.stalled = False
        self.quiet_for = 0.0
        self._last: tuple[int, int] | None = None
        self._since: float | None = None
        self._waits: str | None = None  # the last what-waits-where shown
        self._looked: float | None = None  # when it was last computed

    def observe(self, now: float, counts: tuple[int, int, int] | None = None) -> None:
        """Look at the nodes at time ``now`` (monotonic seconds); ``counts``,
        ``(done, started, held)`` when the follower keeps them, spares
        counting every node."""
        if counts is None:
            counts = count_nodes(self.nodes)
        done, started, held = counts
        state = (done, started)
        if state != self._last or held or self._since is None:
            self._last, self._since = state, now
        self.quiet_for = now - self._since
        self.changed = False
        if self.quiet_for < self.notice or done == len(self.nodes):
            self.changed, self.waiting, self._waits, self._looked = self.waiting is not None, None, None, None
        elif self._looked is None or now - self._looked >= 1.0:  # what waits where, once a second at most
            self._looked = now
            waits = self.waits()
            if waits != self._waits:
                self._waits, self.changed = waits, True
                self.waiting = self.describe()
        self.stalled = bool(self.limit and self.waiting and self.quiet_for >= self.limit)

    def hold(self, now: float) -> None:
        """A worker holds one of the nodes after all (a message waiting for
        its ETA): start counting again."""
        self._since, self.stalled = now, False

    def waiting_nodes(self) -> dict[str | None, list[str]]:
        """Queue → the unfinished nodes none of whose predecessors is
        unfinished: what the run waits for."""
        by_queue: dict[str | None, list[str]] = {}
        for name, node in self.nodes.items():
            if node.state != UNFINISHED:
                continue
            if all(self.nodes[pred].state == SUCCESS for pred in self.dependencies.predecessors(name)):
                by_queue.setdefault(self.queues.get(name), []).append(name)
        return by_queue

    def waits(self) -> str:
        """``1 node waits on queue 'billing' (charge)``."""
        parts = []
        for queue, names in self.waiting_nodes().items():
            shown = ", ".join(names[:5]) + (f", … ({len(names)} in all)" if len(names) > 5 else "")
            where = f"queue '{queue}'" if queue is not None else "its exchange (no queue name)"
            parts.append(f"{len(names)} node{'s wait' if len(names) != 1 else ' waits'} on {where} ({shown})")
        return "; ".join(parts) or "no node is ready to run"

    def describe(self) -> str:
        """``nothing started or finished for 12 s and no worker holds a node:
        1 node waits on queue 'billing' (charge)``."""
        return f"nothing started or finished for {self.quiet_for:.0f} s and no worker holds a node: {self.waits()}"

    def message(self) -> str:
        """The one line a stalled run ends with."""
        queues = sorted(queue for queue in self.waiting_nodes() if queue is not None)
        fix = f"start a worker with -Q {','.join(queues)}, " if queues else ""
        return f"stalled: {self.describe()}; {fix}or give --stall-timeout 0 to wait forever"


def count_nodes(nodes: Mapping[str, NodeRun]) -> tuple[int, int, int]:
    """``(done, started, held)`` over ``nodes``."""
    done = started = held = 0
    for node in nodes.values():
        if node.state != UNFINISHED:
            done += 1
        elif node.running:
            held += 1
        if node.started is not None or node.running:
            started += 1
    return done, started, held


def held_by_workers(app, task_ids, timeout: float = 1.0) -> bool:
    """Whether a live worker has one of ``task_ids`` running, reserved or
    scheduled (a message with a countdown is held, but not started). Asked
    once, when a run looks stalled."""
    wanted = set(task_ids)
    if not wanted:
        return False
    try:
        inspector = app.control.inspect(timeout=timeout)
        for replies in (inspector.active(), inspector.reserved(), inspector.scheduled()):
            for tasks in (replies or {}).values():
                for task in tasks or ():
                    request = task.get("request", task)  # scheduled entries wrap the request
                    if request.get("id") in wanted:
                        return True
    except Exception:  # the workers could not be asked: the run stood still as far as anyone can tell
        return False
    return False
