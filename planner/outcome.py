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
TIMEOUT = "TIMEOUT"


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
    worker: str | None = None
    running: bool = False
    result_bytes: int = 0

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return max(0.0, self.finished - self.started)

    def as_json(self) -> dict:
        return {"state": self.state, "result": self.result, "error": self.error, "task_id": self.task_id,
                "started": self.started, "finished": self.finished, "worker": self.worker}


@dataclass
class RunReport:
    """The outcome of a run: ``status`` is SUCCESS, FAILURE or TIMEOUT."""

    plan: Plan
    nodes: dict[str, NodeRun]
    status: str = UNFINISHED
    where: str = ""
    elapsed: float = 0.0
    timeout: float | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"status": self.status, "nodes": {name: node.as_json() for name, node in self.nodes.items()}}

    def count(self, state: str) -> int:
        return sum(node.state == state for node in self.nodes.values())

    @property
    def exit_code(self) -> int:
        return {SUCCESS: 0, FAILURE: 1, TIMEOUT: 124}.get(self.status, 1)


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
