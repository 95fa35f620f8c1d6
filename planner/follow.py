"""Following a run: the result store is read for every unfinished node at
once, and FAILURE and SKIPPED are derived from the plan's dependencies (a
Celery chain stops at a failure and a failed chord header never runs its
body, so those tasks would stay PENDING forever).

>>> watcher = Watcher(plan, app, nodes)   # doctest: +SKIP
>>> finished_now = watcher.poll()         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime, timezone
from typing import Mapping

import networkx as nx

from .outcome import FAILURE, SKIPPED, SUCCESS, UNFINISHED, NodeRun, Progress
from .plan import Plan

FAILED_STATES = {"FAILURE", "REVOKED", "REJECTED"}


class Watcher:
    """Polls the result store for every unfinished node at once and derives
    FAILURE/SKIPPED from the plan's dependencies."""

    def __init__(self, plan: Plan, app, nodes: dict[str, NodeRun]):
        self.plan, self.app, self.nodes = plan, app, nodes
        self.dependencies = plan.dependencies()
        self.backend = app.backend
        self.key_value = all(hasattr(self.backend, attr) for attr in ("mget", "get_key_for_task", "decode"))
        self.failed: set[str] = set()
        self.skipped: set[str] = set()
        self.changed = False
        self._running = 0

    @property
    def over(self) -> bool:
        return all(node.state != UNFINISHED for node in self.nodes.values())

    def poll(self) -> list[str]:
        waiting = [node for node in self.nodes.values() if node.state == UNFINISHED]
        metas, starts = self._fetch(waiting)
        finished_now = []
        running_before = self._running
        for node in waiting:
            start = starts.get(node.name)
            if start:
                node.started = node.started or start.get("started")
                node.worker = start.get("worker") or node.worker  # the latest try's (a retry may move)
                node.tries = max(node.tries, int(start.get("try") or 1))
            meta = metas.get(node.name)
            status = (meta or {}).get("status")
            node.running = bool(start) or status == "STARTED"
            if status == "SUCCESS":
                self._finish(node, meta, SUCCESS)
                finished_now.append(node.name)
            elif status in FAILED_STATES:
                self._finish(node, meta, FAILURE)
                self.failed.add(node.name)
                finished_now.append(node.name)
        if any(self.nodes[name].state == FAILURE for name in finished_now):
            finished_now += [name for name in self._skip_downstream() if name not in finished_now]
        self._running = sum(node.running and node.state == UNFINISHED for node in self.nodes.values())
        self.changed = self._running != running_before
        return finished_now

    def _skip_downstream(self) -> list[str]:
        downstream = set()
        for name in self.failed:
            downstream |= nx.descendants(self.dependencies, name)
        newly = []
        for name in downstream:
            node = self.nodes[name]
            if node.state == SUCCESS:
                continue  # it did run: report what happened
            if node.state != SKIPPED:
                newly.append(name)
            node.state, node.result, node.error = SKIPPED, None, None
            node.running = False
            if node.started is None:  # never ran: a failure Celery propagated down a chain says nothing of it
                node.tries, node.worker, node.finished = 0, None, None
            self.failed.discard(name)  # e.g. a chord body failed for its header's sake
        self.skipped |= downstream
        return newly

    def _finish(self, node: NodeRun, meta: dict, state: str) -> None:
        node.state = state
        node.running = False
        node.finished = _timestamp(meta.get("date_done")) or time.time()
        node.worker = meta.get("worker") or node.worker
        node.tries = max(node.tries, 1 + int(meta.get("retries") or 0))
        if state == SUCCESS:
            node.result = meta.get("result")
            with contextlib.suppress(TypeError, ValueError):
                node.result_bytes = len(json.dumps(node.result))
        else:
            node.error = _error_text(meta)

    def _fetch(self, waiting: list[NodeRun]) -> tuple[dict, dict]:
        """The raw metas and start records of ``waiting``, by node name."""
        if not waiting:
            return {}, {}
        if not self.key_value:
            return {node.name: self.backend.get_task_meta(node.task_id) for node in waiting}, {}
        backend = self.backend
        meta_keys = [backend.get_key_for_task(node.task_id) for node in waiting]
        from .tasks import STARTED_SUFFIX

        start_keys = [backend.get_key_for_task(node.task_id, key=STARTED_SUFFIX) for node in waiting]
        values = backend.mget(meta_keys + start_keys)
        if isinstance(values, dict):  # the cache backends answer with a mapping
            values = [values.get(key) for key in meta_keys + start_keys]
        metas, starts = {}, {}
        for node, raw in zip(waiting, values[: len(waiting)], strict=False):
            if raw is not None:
                metas[node.name] = backend.decode(raw)
        for node, raw in zip(waiting, values[len(waiting):], strict=False):
            if raw is not None:
                with contextlib.suppress(ValueError, TypeError):
                    starts[node.name] = json.loads(raw)
        return metas, starts

    def progress(self, finished_now: list[str]) -> Progress:
        states = [node.state for node in self.nodes.values()]
        return Progress(total=len(states), done=sum(s != UNFINISHED for s in states), running=self._running,
                        failed=states.count(FAILURE), skipped=states.count(SKIPPED), finished_now=finished_now,
                        nodes=self.nodes)


def _timestamp(value) -> float | None:
    if not value:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _error_text(meta: dict) -> str:
    """``"Type: message"`` from a failure's stored (JSON) exception."""
    status = meta.get("status")
    if status == "REVOKED":
        return "Revoked: the task was revoked"
    exc = meta.get("result")
    if isinstance(exc, dict) and "exc_type" in exc:
        message = exc.get("exc_message")
        if isinstance(message, (list, tuple)):
            message = " ".join(str(part) for part in message)
        return f"{exc['exc_type']}: {message}".rstrip(": ")
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"
    return f"{status}: {exc}"


def large_results(plan: Plan, nodes: Mapping[str, NodeRun], limit: int) -> list[str]:
    """Warnings for big results handed on to successors."""
    warnings = []
    for name, node in nodes.items():
        if node.result_bytes > limit and plan.graph.out_degree(name):
            warnings.append(f"node '{name}' passed {_size(node.result_bytes)} to its successors "
                            f"(over {_size(limit)}): pass ids or paths, not payloads")
    return warnings


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"

