"""Following a run: what each node did, learnt from the run's journal
(:mod:`planner.journal`: the workers append an event per node received,
started and ended, and the watcher reads only the entries it has not seen
yet, then fetches the results of the nodes that ended) — so following costs
O(1) per node. Backends without a journal (or a run sent without one) are
scanned: every unfinished node's state at once, each poll. With a journal a
scan still runs now and then (its share of the time bounded), to catch what
no event says (a result stored by a process that could not journal it).

FAILURE and SKIPPED are derived from the plan's dependencies (a Celery chain
stops at a failure and a failed chord header never runs its body, so those
tasks would stay PENDING forever).

>>> watcher = Watcher(plan, app, nodes, run_id=run_id)   # doctest: +SKIP
>>> finished_now = watcher.poll()                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Mapping

import networkx as nx

from .journal import DONE, MEMORY, RECEIVED, RETRY, STARTED, journal_for
from .outcome import FAILURE, LOST, SKIPPED, SUCCESS, UNFINISHED, NodeRun, Progress
from .plan import Plan
from .store import is_key_value, stored_values

FAILED_STATES = {"FAILURE", "REVOKED", "REJECTED"}
SCAN_EVERY = 1.0  # seconds between scans when a journal reports the nodes (at least)
SCAN_SHARE = 0.05  # at most this share of the time goes to scans


class Watcher:
    """Follows ``nodes`` (updated in place): the run's journal when
    ``run_id`` is given and the backend keeps one, else a scan of every
    unfinished node per poll. ``holders`` maps unfinished nodes to the worker
    that last received or started their message (``messages``: its id)."""

    def __init__(self, plan: Plan, app, nodes: dict[str, NodeRun], run_id: str | None = None):
        self.plan, self.app, self.nodes, self.run_id = plan, app, nodes, run_id
        self.dependencies = plan.dependencies()
        self.backend = app.backend
        self.key_value = is_key_value(self.backend)
        self.journal = journal_for(app) if run_id else None
        self.offset = 0
        self.by_task = {node.task_id: node for node in nodes.values()}
        self.unfinished = {name for name, node in nodes.items() if node.state == UNFINISHED}
        self.states = Counter(node.state for node in nodes.values())
        self.running = {name for name in self.unfinished if nodes[name].running}
        self.started = sum(node.started is not None or node.running for node in nodes.values())
        self.holders: dict[str, str] = {}
        self.workers: set[str] = set()  # every worker the journal named
        # Node → (its last start event, start events seen). An event counts once: a write the Redis
        # client retried after a dropped reply is appended twice.
        self._starts: dict[str, tuple] = {}
        self.messages: dict[str, str] = {}
        self.failed: set[str] = {name for name, node in nodes.items() if node.state in (FAILURE, LOST)}
        self.skipped: set[str] = {name for name, node in nodes.items() if node.state == SKIPPED}
        self.changed = False
        self._next_scan = 0.0

    @property
    def over(self) -> bool:
        return not self.unfinished

    def counts(self) -> tuple[int, int, int]:
        """``(done, started, held)``: nodes in a final state, nodes started
        (or held) at some point, nodes a worker runs now."""
        return len(self.nodes) - len(self.unfinished), self.started, len(self.running)

    def poll(self) -> list[str]:
        """Read what happened since the last poll; returns the nodes that
        reached a final state."""
        running_before = len(self.running)
        finished_now: list[str] = []
        if self.journal is None:
            self._scan(finished_now, starts=True)
        else:
            now = time.monotonic()
            scan = now >= self._next_scan
            if scan:
                self._scan(finished_now, starts=True)
            # After the scan: a node it found finished wrote its start event before it ran, so this
            # read has it (read first, a node that started and ended in between would end the run
            # with no start time, worker or try).
            self._read_journal(finished_now)
            if scan:
                self._next_scan = time.monotonic() + max(SCAN_EVERY, (time.monotonic() - now) / SCAN_SHARE)
        if any(self.nodes[name].state == FAILURE for name in finished_now):
            finished_now += [name for name in self._skip_downstream(finished_now) if name not in finished_now]
        self.changed = len(self.running) != running_before
        return finished_now

    def rewind(self) -> None:
        """After the backend came back: a journal shorter than what was read
        (its last entries were not persisted) is read from its end, and
        everything unfinished is looked at now."""
        if self.journal is not None and self.run_id and self.journal.length(self.run_id) < self.offset:
            self.offset = self.journal.length(self.run_id)
        self._next_scan = 0.0

    # --- the journal ---

    def _read_journal(self, finished_now: list[str]) -> None:
        events = self.journal.read(self.run_id, self.offset)
        self.offset += len(events)
        ended: dict[str, NodeRun] = {}
        for event in events:
            kind = event[0]
            if kind == RECEIVED:
                node = self.by_task.get(event[3] or event[1])
                self.workers.add(event[2])
                if node is not None and node.state == UNFINISHED:
                    self.holders[node.name], self.messages[node.name] = event[2], event[1]
            elif kind == STARTED:
                node = self.by_task.get(event[1])
                self.workers.add(event[2])
                if node is not None:
                    # runs = distinct start events seen (a scan may have counted this one from the result)
                    seen, count = self._starts.get(node.name, (None, 0))
                    if seen != (event[2], event[3], event[4]):
                        self._starts[node.name] = ((event[2], event[3], event[4]), count + 1)
                        node.runs = max(node.runs, count + 1)
                    self._started(node, {"started": event[4], "worker": event[2], "try": event[3]})
                    if node.state == UNFINISHED:
                        self.holders[node.name] = event[2]
            elif kind == RETRY:
                node = self.by_task.get(event[1])
                if node is not None:
                    self._set_running(node, False)
            elif kind == DONE:
                node = self.by_task.get(event[1])
                if node is not None and node.state == UNFINISHED:
                    ended[node.name] = node
        if ended:
            waiting = list(ended.values())
            metas, _ = self._fetch(waiting, starts=False)
            for node in waiting:
                self._apply(node, metas.get(node.name), finished_now)

    # --- the scan ---

    def _scan(self, finished_now: list[str], starts: bool) -> None:
        self._follow_moves()
        waiting = [self.nodes[name] for name in self.unfinished]
        metas, records = self._fetch(waiting, starts)
        for node in waiting:
            start = records.get(node.name)
            if start:
                self._started(node, start)
            meta = metas.get(node.name)
            if self.journal is None:  # else the journal says what runs (start keys are only map nodes')
                self._set_running(node, bool(start) or (meta or {}).get("status") == "STARTED")
            self._apply(node, meta, finished_now)

    def _started(self, node: NodeRun, start: dict) -> None:
        if node.started is None and not node.running:
            self.started += 1
        node.started = node.started or start.get("started")
        node.worker = start.get("worker") or node.worker  # the latest try's (a retry may move)
        node.tries = max(node.tries, int(start.get("try") or 1))
        node.runs = max(node.runs, 1)
        if node.state == UNFINISHED:
            self._set_running(node, True)

    def _set_running(self, node: NodeRun, running: bool) -> None:
        node.running = running and node.state == UNFINISHED
        if node.running:
            self.running.add(node.name)
        else:
            self.running.discard(node.name)

    def _apply(self, node: NodeRun, meta: dict | None, finished_now: list[str]) -> None:
        if node.state != UNFINISHED:
            return
        status = (meta or {}).get("status")
        if status == "SUCCESS":
            self._finish(node, meta, SUCCESS)
            finished_now.append(node.name)
        elif status in FAILED_STATES:
            if status == "REVOKED" and node.name in self._follow_moves():
                return  # revoked because it was sent again under a new task id
            self._finish(node, meta, FAILURE)
            self.failed.add(node.name)
            finished_now.append(node.name)

    def _follow_moves(self) -> set[str]:
        """Nodes the run's own follower sent again under new task ids (a
        canvas that lost a worker goes on by exact dispatch): follow the new
        ids, and a node failed or skipped for its old id's revoke waits
        again. Returns the nodes that moved now. Only a run journalled in
        Redis can move (that is where planner.recovery works)."""
        if self.journal is None or self.journal is MEMORY:
            return set()
        from .record import moved

        try:
            moves = moved(self.app, self.run_id)
        except Exception:  # the backend is down for a moment: the next scan looks again
            return set()
        now = set()
        for name, task_id in moves.items():
            node = self.nodes.get(name)
            if node is None or node.task_id == task_id or node.state == SUCCESS:
                continue
            self.by_task.pop(node.task_id, None)
            node.task_id, node.started, node.worker = task_id, None, None
            self.by_task[task_id] = node
            if node.state != UNFINISHED:
                node.error, node.result, node.reason = None, None, None
                self.failed.discard(name)
                self.skipped.discard(name)
                self.set_state(node, UNFINISHED)
            now.add(name)
        return now

    def set_state(self, node: NodeRun, state: str) -> None:
        """Move ``node`` to ``state``, keeping the counts."""
        self.states[node.state] -= 1
        self.states[state] += 1
        node.state = state
        if state == UNFINISHED:
            self.unfinished.add(node.name)
        else:
            self.unfinished.discard(node.name)
            self.holders.pop(node.name, None)
            self._set_running(node, False)

    def lose(self, name: str, error: str) -> list[str]:
        """Mark ``name`` LOST (its worker died and it cannot be sent again)
        and skip what depends on it; returns the nodes that changed."""
        node = self.nodes[name]
        if node.state != UNFINISHED:
            return []
        node.error = error
        self.set_state(node, LOST)
        self.failed.add(name)
        return [name] + [other for other in self._skip_downstream([name]) if other != name]

    def _skip_downstream(self, newly_failed: list[str]) -> list[str]:
        downstream = set()
        for name in newly_failed:
            if self.nodes[name].state in (FAILURE, LOST):
                downstream |= nx.descendants(self.dependencies, name)
        newly = []
        for name in downstream:
            node = self.nodes[name]
            if node.state in (SUCCESS, SKIPPED):
                continue  # it did run (report what happened), or is already skipped
            newly.append(name)
            node.result, node.error = None, None
            self.set_state(node, SKIPPED)
            if node.started is None:  # never ran: a failure Celery propagated down a chain says nothing of it
                node.tries, node.runs, node.worker, node.finished = 0, 0, None, None
            self.failed.discard(name)  # e.g. a chord body failed for its header's sake
        self.skipped |= downstream
        return newly

    def _finish(self, node: NodeRun, meta: dict, state: str) -> None:
        self.set_state(node, state)
        node.finished = _timestamp(meta.get("date_done")) or time.time()
        node.worker = meta.get("worker") or node.worker
        node.tries = max(node.tries, 1 + int(meta.get("retries") or 0))
        node.runs = max(node.runs, node.tries)
        if state == SUCCESS:
            node.result = meta.get("result")
            with contextlib.suppress(TypeError, ValueError):
                node.result_bytes = len(json.dumps(node.result))
        else:
            node.error = _error_text(meta)

    def _fetch(self, waiting: list[NodeRun], starts: bool = True) -> tuple[dict, dict]:
        """The raw metas (and, with ``starts``, start records) of
        ``waiting``, by node name."""
        if not waiting:
            return {}, {}
        if not self.key_value:
            return {node.name: self.backend.get_task_meta(node.task_id) for node in waiting}, {}
        backend = self.backend
        keys = [backend.get_key_for_task(node.task_id) for node in waiting]
        if starts:
            from .tasks import STARTED_SUFFIX

            keys += [backend.get_key_for_task(node.task_id, key=STARTED_SUFFIX) for node in waiting]
        values = stored_values(backend, keys)
        metas, records = {}, {}
        for node, raw in zip(waiting, values[: len(waiting)], strict=False):
            if raw is not None:
                metas[node.name] = backend.decode(raw)
        for node, raw in zip(waiting, values[len(waiting):], strict=False):
            if raw is not None:
                with contextlib.suppress(ValueError, TypeError):
                    records[node.name] = json.loads(raw)
        return metas, records

    def progress(self, finished_now: list[str]) -> Progress:
        done = len(self.nodes) - len(self.unfinished)
        return Progress(total=len(self.nodes), done=done, running=len(self.running),
                        failed=self.states[FAILURE] + self.states[LOST], skipped=self.states[SKIPPED],
                        finished_now=finished_now, nodes=self.nodes)


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

