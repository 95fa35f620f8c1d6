"""Following a started run to its end: the loop around
:class:`planner.follow.Watcher` (which reads the result store) that hands
progress to a display, notices a run standing still
(:mod:`planner.stall`), enforces the timeout and builds the
:class:`~planner.outcome.RunReport`. ``planner run`` is
:func:`planner.submission.start` then :func:`follow`; ``planner status
--wait`` and ``Run.wait()`` follow a run started elsewhere, from its record.

>>> record = start(plan, signatures, app)             # doctest: +SKIP
>>> report = follow(record, app, timeout=60)           # doctest: +SKIP
>>> report.status                                      # doctest: +SKIP
'SUCCESS'
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

from .follow import Watcher, large_results
from .mapping import describe_maps
from .outage import OutageGuard, connection_errors
from .outcome import (
    CANCELLED,
    DISCONNECTED,
    FAILURE,
    INTERRUPTED,
    STALLED,
    SUCCESS,
    TIMEOUT,
    UNFINISHED,
    NodeRun,
    Progress,
    RunReport,
    explain_skips,
)
from .record import RunRecord
from .recovery import Recovery
from .resume import FINGERPRINT
from .stall import DEFAULT_STALL_TIMEOUT, NOTICE, StallGuard, held_by_workers
from .submission import cancel

POLL_INTERVAL = 0.02
REDRIVE_AFTER = 3.0  # seconds after the backend came back before finished nodes are advanced again
MAX_RESULT_BYTES = 64 * 1024


def nodes_of(record: RunRecord) -> dict[str, NodeRun]:
    """A fresh :class:`NodeRun` per node of the run, nothing known yet."""
    graph, reused = record.plan.graph, set(record.reused)
    return {name: NodeRun(name, task_id, mapped=bool(graph.nodes[name].get("map")),
                          fingerprint=graph.nodes[name].get(FINGERPRINT), reused=name in reused)
            for name, task_id in record.task_ids.items()}


def report_of(record: RunRecord, nodes: dict[str, NodeRun], timeout: float | None = None) -> RunReport:
    """The run's report as far as ``nodes`` know it."""
    report = RunReport(record.plan, nodes, where=record.where, timeout=timeout, run_id=record.run_id,
                       parameters=dict(record.parameters))
    report.warnings.extend(record.warnings)
    return report


def follow(record: RunRecord, app, nodes: dict[str, NodeRun] | None = None, *, timeout: float | None = None,
           on_progress: Callable[[Progress], None] | None = None, max_result_bytes: int = MAX_RESULT_BYTES,
           poll_interval: float = POLL_INTERVAL, stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
           watcher: Watcher | None = None, stop_at_end: bool = True,
           cancelled: Callable[[], bool] | None = None) -> RunReport:
    """Follow the run of ``record`` on ``app`` (its result backend; its
    broker, to ask workers what they hold) until every node is over,
    ``timeout`` seconds pass, or ``stall_timeout`` seconds in which nothing
    moved (see :mod:`planner.stall`). With ``stop_at_end`` (the run's own
    command) a timeout, a stall or Ctrl-C also cancels what has not run;
    an observer leaves the run alone. ``cancelled()`` (asked every
    second) says the run was cancelled: it ends CANCELLED once no worker
    holds a node (what was not sent never will be)."""
    nodes = nodes if nodes is not None else nodes_of(record)
    plan = record.plan
    report = report_of(record, nodes, timeout)
    watcher = watcher or Watcher(plan, app, nodes, run_id=record.run_id)
    # Only a store that keeps start records (or the run's journal) shows whether a worker holds a node.
    knows = watcher.key_value or watcher.journal is not None
    guard = StallGuard(plan, nodes, record.queues, stall_timeout if knows else None,
                       notice=NOTICE if knows else math.inf)
    # Only the run's own command sends lost nodes again (two followers would send them twice).
    recovery = Recovery(plan, app, watcher, record.exact_run, record.signatures) if stop_at_end else None
    began = time.monotonic()
    deadline = None if timeout is None else began + timeout
    over_at_once = None
    was_cancelled, next_look = False, began
    outage, redriven = OutageGuard(app, record), 0.0
    lost_connection = connection_errors()
    try:
        while True:
            try:
                finished_now = watcher.poll()
                ended = outage.ok(time.monotonic(), watcher)
                if recovery is not None and ended is None and not outage.unsettled(time.monotonic()):
                    finished_now += recovery.check(time.monotonic())
                if recovery is not None and outage.back_at is not None \
                        and time.monotonic() - max(outage.back_at, redriven) >= REDRIVE_AFTER:
                    redriven = time.monotonic()  # again every few seconds while the run does not move
                    recovery.redrive(time.monotonic() - outage.back_at)
            except lost_connection as error:  # retried for a while: a restarting Redis comes back
                finished_now, ended = [], outage.failed(error, time.monotonic())
                if ended is None and (deadline is None or time.monotonic() < deadline):
                    time.sleep(0.5)
                    continue
            if ended is not None:
                report.status, report.error = DISCONNECTED, ended
                break
            over_at_once = watcher.over if over_at_once is None else over_at_once
            guard.observe(time.monotonic(), watcher.counts())
            if on_progress and (finished_now or watcher.changed or guard.changed):
                progress = watcher.progress(finished_now)
                progress.waiting = guard.waiting
                on_progress(progress)
            if watcher.over:
                report.status = FAILURE if watcher.failed else SUCCESS
                if watcher.failed and cancelled is not None and (was_cancelled or cancelled()):
                    report.status = CANCELLED  # its revoked nodes failed because it was cancelled
                break
            if cancelled is not None and not was_cancelled and time.monotonic() >= next_look:
                was_cancelled, next_look = cancelled(), time.monotonic() + 1.0
            if was_cancelled and not any(node.running for node in nodes.values() if node.state == UNFINISHED):
                report.status = CANCELLED
                break
            if deadline is not None and time.monotonic() >= deadline:
                report.status = TIMEOUT
                if stop_at_end:
                    stop(app, nodes, record)
                break
            if guard.stalled and held_by_workers(app, [n.task_id for n in nodes.values() if n.state == UNFINISHED]):
                guard.hold(time.monotonic())
            elif guard.stalled:
                report.status, report.stall = STALLED, guard.message()
                if stop_at_end:
                    stop(app, nodes, record)
                break
            time.sleep(poll_interval)
    except KeyboardInterrupt as interrupt:
        if stop_at_end:
            with contextlib.suppress(Exception):
                stop(app, nodes, record)  # Ctrl-C stops the run, not only the command
        report.status = INTERRUPTED
        interrupt.report = _finish(report, record, app, nodes, recovery, max_result_bytes, over_at_once)
        raise
    finally:
        if stop_at_end and watcher.journal is not None:
            watcher.journal.discard(record.run_id)
    if report.status in (DISCONNECTED,) and stop_at_end:
        with contextlib.suppress(Exception):
            cancel(app, nodes, record.exact_run)
    return _finish(report, record, app, nodes, recovery, max_result_bytes, over_at_once)


def _finish(report: RunReport, record: RunRecord, app, nodes: dict[str, NodeRun], recovery, max_result_bytes: int,
            over_at_once) -> RunReport:
    """The report's last touches: elapsed time, notes, map items, why nodes
    were skipped, large results (what cannot be read now is left out)."""
    plan = record.plan
    report.elapsed = elapsed(record, nodes, finished_before=bool(over_at_once))
    if recovery is not None:
        report.warnings.extend(recovery.notes)
    with contextlib.suppress(Exception):  # the backend may be the thing that was lost
        describe_maps(app.backend, nodes)
    explain_skips(plan, nodes)
    report.warnings.extend(large_results(plan, nodes, max_result_bytes))
    return report


def stop(app, nodes: dict[str, NodeRun], record: RunRecord) -> None:
    """Cancel what has not run, and say so in the backend: whoever follows
    the run elsewhere stops waiting for nodes that will never be sent."""
    from .record import mark_cancelled

    cancel(app, nodes, record.exact_run)
    with contextlib.suppress(Exception):
        mark_cancelled(app, record.run_id)


def elapsed(record: RunRecord, nodes: dict[str, NodeRun], finished_before: bool = False) -> float:
    """Seconds since submission: until now, or, for a run that was over
    before anyone watched, until its last node finished."""
    ends = [node.finished for node in nodes.values() if node.finished is not None]
    end = max(ends) if finished_before and ends else time.time()
    return max(0.0, end - record.submitted)
