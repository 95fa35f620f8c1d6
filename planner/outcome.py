"""What a run produced: every node's state, result, error, times and
worker (:class:`NodeRun`), the run as a whole (:class:`RunReport`, the
object behind ``planner run --json``) and the snapshots handed to a
progress display (:class:`Progress`). Plain data: nothing here talks to
Celery.

>>> node = NodeRun("load", "3f2c")
>>> node.state, node.duration
('UNFINISHED', None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .plan import Plan

SUCCESS, FAILURE, SKIPPED, UNFINISHED = "SUCCESS", "FAILURE", "SKIPPED", "UNFINISHED"
LOST = "LOST"  # its worker died while holding it and it could not be sent again: ``run --resume`` runs it
TIMEOUT = "TIMEOUT"
CANCELLED = "CANCELLED"  # Run.cancel(): what had not run never will
RUNNING = "RUNNING"  # a snapshot of a run still going (planner status, Run.report())
DISCONNECTED = "DISCONNECTED"  # the result backend (or the broker on its server) was lost: ``error`` says which
INTERRUPTED = "INTERRUPTED"  # Ctrl-C: what had not run was cancelled
STALLED = "STALLED"  # nothing progressed for --stall-timeout seconds and no worker held a node


@dataclass
class NodeRun:
    """What happened to one node."""

    name: str
    task_id: str
    state: str = UNFINISHED  # SUCCESS, FAILURE, SKIPPED, or UNFINISHED after a timeout
    result: object = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    worker: str | None = None  # the worker of the try that finished (else of the latest try seen)
    running: bool = False
    result_bytes: int = 0
    tries: int = 0  # executions seen: 1 + Celery retries (0: never started)
    reason: str | None = None  # why a SKIPPED node was skipped
    runs: int = 0  # executions seen (a retry, or a message sent again after its worker died, adds one)
    fingerprint: str | None = None  # task, arguments and predecessors, hashed (planner.resume)
    reused: bool = False  # its result came from the report a run resumed (run --resume), not from running
    mapped: bool = False  # a map node (map=True): ran its task once per item
    items: int | None = None  # a map node's item count, once its items were known

    @property
    def item_task_ids(self) -> list[str]:
        """A map node's item task ids, in item order."""
        from .mapping import item_task_id

        return [item_task_id(self.task_id, index) for index in range(self.items or 0)]

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)

    def as_json(self) -> dict:
        out = {"state": self.state, "result": self.result, "error": self.error, "task_id": self.task_id,
               "started": self.started, "finished": self.finished, "worker": self.worker, "tries": self.tries,
               "runs": self.runs, "reason": self.reason}
        if self.mapped:
            out["map"] = {"items": self.items, "task_ids": self.item_task_ids}
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
        if self.reused:
            out["reused"] = True
        return out


@dataclass
class RunReport:
    """The outcome of a run: ``status`` is SUCCESS, FAILURE, TIMEOUT or
    STALLED (then ``stall`` says what waited where), CANCELLED, or RUNNING in a
    snapshot of a live run (``planner status``). ``parameters`` are the
    graph function's, as :func:`planner.parameters.as_json` records them."""

    plan: Plan
    nodes: dict[str, NodeRun]
    status: str = UNFINISHED
    where: str = ""
    elapsed: float = 0.0
    timeout: float | None = None
    warnings: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    stall: str | None = None
    error: str | None = None  # DISCONNECTED: the one line saying what was lost
    run_id: str | None = None  # follow it elsewhere: planner status RUN_ID, planner.attach(RUN_ID)

    def as_json(self) -> dict:
        out = {"status": self.status, "run_id": self.run_id, "strategy": self.plan.strategy,
               "elapsed": round(self.elapsed, 3), "parameters": self.parameters, "warnings": self.warnings,
               "nodes": {name: node.as_json() for name, node in self.nodes.items()}}
        if self.error:
            out["error"] = self.error
        return out

    def count(self, state: str) -> int:
        return sum(node.state == state for node in self.nodes.values())

    @property
    def exit_code(self) -> int:
        return {SUCCESS: 0, FAILURE: 1, TIMEOUT: 124, STALLED: 2, RUNNING: 0, CANCELLED: 1, DISCONNECTED: 2,
                INTERRUPTED: 130}.get(self.status, 1)


@dataclass
class Progress:
    """A snapshot handed to the progress callback while the run goes on."""

    total: int
    done: int
    running: int
    failed: int
    skipped: int
    finished_now: list[str]  # nodes that reached a final state since the last snapshot
    nodes: Mapping[str, NodeRun]
    waiting: str | None = None  # set when the run stands still: which nodes wait on which queue


def explain_skips(plan: Plan, nodes: Mapping[str, NodeRun]) -> None:
    """Set ``reason`` on every SKIPPED node: the failed node it depends on,
    or, where the plan's added ordering alone put it behind a failure (the
    canvas strategy on a graph that is not series-parallel), that ordering.

    >>> import networkx as nx
    >>> plan = Plan(nx.DiGraph([("a", "c"), ("b", "d")]), None, added=(("b", "c"),))
    >>> nodes = {n: NodeRun(n, n) for n in "abcd"}
    >>> nodes["b"].state, nodes["c"].state, nodes["d"].state = FAILURE, SKIPPED, SKIPPED
    >>> explain_skips(plan, nodes)
    >>> nodes["c"].reason, nodes["d"].reason
    ("behind the added ordering b → c (the canvas adds it; the graph has no such dependency) after 'b' failed", "after 'b' failed")
    """
    from collections import deque

    failed = [name for name, node in nodes.items() if node.state in (FAILURE, LOST)]
    if not any(node.state == SKIPPED for node in nodes.values()):
        return
    added = set(plan.added)
    added_after: dict[str, list[str]] = {}
    for u, v in plan.added:
        added_after.setdefault(u, []).append(v)
    # One breadth-first walk from the failures along the plan's ordering, graph edges first: each
    # node reached keeps the failure that reached it and the first added edge on the way (if any).
    reached: dict[str, tuple[str, tuple[str, str] | None]] = {name: (name, None) for name in failed}
    queue = deque(failed)
    for through_added in (False, True):
        if through_added:
            queue = deque(reached)
        while queue:
            current = queue.popleft()
            origin, via = reached[current]
            successors = list(plan.graph.successors(current))
            if through_added:
                successors = added_after.get(current, []) + successors
            for successor in successors:
                if successor not in reached:
                    edge = (current, successor) if (current, successor) in added else via
                    reached[successor] = (origin, edge)
                    queue.append(successor)
    for name, node in nodes.items():
        if node.state != SKIPPED or name not in reached:
            continue
        origin, via = reached[name]
        what = "was lost" if nodes[origin].state == LOST else "failed"
        if via is None:
            node.reason = f"after '{origin}' {what}"
        else:
            node.reason = (f"behind the added ordering {via[0]} → {via[1]} (the canvas adds it; the graph has no "
                           f"such dependency) after '{origin}' {what}")
