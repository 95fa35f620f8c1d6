"""Running a plan: borrow the app (:mod:`planner.apps`), start workers if
asked (:mod:`planner.embedded`, :mod:`planner.local_workers`), check the
cluster (:mod:`planner.preflight`), send the plan
(:mod:`planner.submission`), follow every node in the result store
(:mod:`planner.follow`) and collect what happened
(:mod:`planner.outcome`; printing is :mod:`planner.report`).

A node whose task failed is FAILURE; every node downstream of it in the
plan's dependencies is SKIPPED and never waited for (a Celery chain stops at
a failure and a failed chord header never runs its body, so those tasks
would stay PENDING forever). The run is over when every node is SUCCESS,
FAILURE or SKIPPED, or when the timeout is reached.

>>> report = run_graph(load_graph("examples/etl/graph.py"))   # doctest: +SKIP
>>> report.status, report.nodes["load"].state                  # doctest: +SKIP
('SUCCESS', 'SUCCESS')
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Mapping

import networkx as nx

from .apps import JSON_SETTINGS, app_of, borrowed, cluster_settings, cluster_urls
from .errors import PlannerError
from .follow import Watcher, large_results
from .outcome import FAILURE, STALLED, SUCCESS, TIMEOUT, UNFINISHED, NodeRun, Progress, RunReport, explain_skips
from .plan import Plan
from .preflight import masked
from .routing import consumed_queues, plan_queues, queue_of_nodes
from .stall import DEFAULT_STALL_TIMEOUT, NOTICE, StallGuard, held_by_workers
from .submission import cancel, submit, tagged

POLL_INTERVAL = 0.02
MAX_RESULT_BYTES = 64 * 1024



def run_graph(user_graph: nx.DiGraph, *, local: bool = False, broker: str | None = None, backend: str | None = None,
              workers: int = 0, concurrency: int | None = None, strategy: str = "auto",
              timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
              max_result_bytes: int = MAX_RESULT_BYTES, poll_interval: float = POLL_INTERVAL,
              worker_pythonpath: list[str] | None = None, stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
              parameters: dict | None = None) -> RunReport:
    """Plan ``user_graph`` and run it: on the embedded worker with ``local``
    (or when neither ``broker`` nor the app configures one), else on the
    cluster behind ``broker``, optionally starting ``workers`` local worker
    processes for the run. Workers started for the run consume every queue
    the plan's tasks are routed to. A run in which nothing starts or finishes
    for ``stall_timeout`` seconds while no worker holds a node ends STALLED
    (``0``/``None``: wait). ``parameters`` (the graph function's) go into
    the report."""
    from .planning import make_plan
    from .planning import signatures as signatures_of

    signatures = signatures_of(user_graph)
    app = app_of(signatures)
    plan = make_plan(user_graph, strategy)
    if local and (broker or workers):
        raise PlannerError("--local runs on the embedded worker: it cannot be combined with --broker or --workers")
    embedded = local or (not broker and not app.conf.broker_url)
    if embedded and workers:
        raise PlannerError("--workers needs a broker the worker processes can share: give --broker redis://...")
    if embedded:
        from .embedded import DEFAULT_CONCURRENCY, embedded_worker, in_memory_settings

        threads = concurrency or DEFAULT_CONCURRENCY
        with borrowed(app, {**in_memory_settings(), **JSON_SETTINGS}):
            check_exact_support(plan, app)
            queues = consumed_queues(app, plan, signatures)
            with embedded_worker(app, concurrency=threads, queues=queues):
                report = run_plan(plan, signatures, app, timeout=timeout, on_progress=on_progress,
                                  max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                                  where=f"embedded worker ({threads} threads{_queues_text(queues)})",
                                  stall_timeout=stall_timeout)
                report.parameters = dict(parameters or {})
                return report
    broker_url, backend_url = cluster_urls(app, broker, backend)
    with borrowed(app, cluster_settings(app, broker_url, backend_url)):
        report = _run_on_cluster(app, plan, signatures, broker_url, backend_url, workers=workers,
                                 concurrency=concurrency, timeout=timeout, on_progress=on_progress,
                                 max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                                 worker_pythonpath=worker_pythonpath, stall_timeout=stall_timeout)
        report.parameters = dict(parameters or {})
        return report


def _queues_text(queues: list[str]) -> str:
    return f", queues {', '.join(queues)}" if len(queues) > 1 else ""


def _run_on_cluster(app, plan, signatures, broker_url, backend_url, *, workers, concurrency, timeout,
                    on_progress, max_result_bytes, poll_interval, worker_pythonpath, stall_timeout) -> RunReport:
    from . import preflight

    app.set_current()
    preflight.check_broker(app)
    preflight.check_backend(app)
    check_exact_support(plan, app)
    needs = queue_needs(app, plan, signatures)
    with contextlib.ExitStack() as stack:
        if workers:
            from .local_workers import local_workers

            names = stack.enter_context(local_workers(
                app, signatures, broker_url, backend_url, count=workers, concurrency=concurrency or 2,
                pythonpath=worker_pythonpath or [], queues=consumed_queues(app, plan, signatures)))
        else:
            names = preflight.check_workers(app, [queue for queue in needs if queue])
        warnings = preflight.check_queues(app, needs, names)
        report = run_plan(plan, signatures, app, timeout=timeout, on_progress=on_progress,
                          max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                          where=f"{masked(broker_url)} ({len(names)} worker{'s' * (len(names) != 1)})",
                          stall_timeout=stall_timeout)
        report.warnings[:0] = warnings
        return report


def queue_needs(app, plan: Plan, signatures: Mapping) -> dict[str | None, dict[str, list[str]]]:
    """Queue → {task → nodes} the workers must serve: the plan's routes and,
    for exact dispatch, planner's exact helpers on every queue (the worker
    that runs a node sends its successors)."""
    needs = plan_queues(app, plan, signatures)
    if plan.strategy == "exact":
        from . import exact

        for tasks in needs.values():
            for name in exact.REQUIRED_TASKS:
                tasks.setdefault(name, [])
    return needs


def check_exact_support(plan: Plan, app) -> None:
    """One line (exit 2) when an exact plan meets a result backend that cannot
    hold its run state."""
    if plan.strategy == "exact":
        from . import exact

        exact.check_support(app)


def run_plan(plan: Plan, signatures: Mapping, app, *, timeout: float | None = None,
             on_progress: Callable[[Progress], None] | None = None, max_result_bytes: int = MAX_RESULT_BYTES,
             poll_interval: float = POLL_INTERVAL, where: str = "",
             stall_timeout: float | None = DEFAULT_STALL_TIMEOUT) -> RunReport:
    """Submit ``plan`` on ``app`` (already pointed at a broker with live
    workers) and follow it to the end, ``timeout`` seconds, or
    ``stall_timeout`` seconds in which nothing moved (see :mod:`planner.stall`)."""
    from celery import uuid

    from .tasks import RUN_HEADER, STARTED_SUFFIX  # noqa: F401  (the helpers register on import)

    run_id = uuid()
    task_ids = {name: uuid() for name in plan.graph}
    sent = {name: tagged(signatures[name], RUN_HEADER, run_id) for name in plan.graph}
    started_at = time.monotonic()
    exact_run = submit(plan, sent, app, task_ids)
    nodes = {name: NodeRun(name, task_ids[name]) for name in plan.graph}
    report = RunReport(plan, nodes, where=where, timeout=timeout)
    watcher = Watcher(plan, app, nodes)
    # Only a store that keeps start records shows whether a worker holds a node.
    guard = StallGuard(plan, nodes, queue_of_nodes(plan_queues(app, plan, signatures)),
                       stall_timeout if watcher.key_value else None, notice=NOTICE if watcher.key_value else math.inf)
    deadline = None if timeout is None else started_at + timeout
    try:
        while True:
            finished_now = watcher.poll()
            guard.observe(time.monotonic())
            if on_progress and (finished_now or watcher.changed or guard.changed):
                progress = watcher.progress(finished_now)
                progress.waiting = guard.waiting
                on_progress(progress)
            if watcher.over:
                report.status = FAILURE if watcher.failed else SUCCESS
                break
            if deadline is not None and time.monotonic() >= deadline:
                report.status = TIMEOUT
                cancel(app, nodes, exact_run)
                break
            if guard.stalled and held_by_workers(app, [n.task_id for n in nodes.values() if n.state == UNFINISHED]):
                guard.hold(time.monotonic())
            elif guard.stalled:
                report.status, report.stall = STALLED, guard.message()
                cancel(app, nodes, exact_run)
                break
            time.sleep(poll_interval)
    except KeyboardInterrupt:
        cancel(app, nodes, exact_run)  # Ctrl-C stops the run, not only the command
        raise
    report.elapsed = time.monotonic() - started_at
    explain_skips(plan, nodes)
    report.warnings.extend(large_results(plan, nodes, max_result_bytes))
    return report


