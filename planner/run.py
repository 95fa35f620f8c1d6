"""Running a plan: borrow the app (:mod:`planner.apps`), start workers if
asked (:mod:`planner.embedded`, :mod:`planner.local_workers`), check the
cluster (:mod:`planner.preflight`), start the run (:mod:`planner.submission`:
ids, the run's record, sending) and follow it to the end
(:mod:`planner.waiting`, around :mod:`planner.follow`; what happened is
:mod:`planner.outcome`, printing it :mod:`planner.report`). The Python API
(:mod:`planner.api`) uses the same pieces, returning after the start.

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
from typing import Callable, Iterator, Mapping

import networkx as nx

from .apps import JSON_SETTINGS, app_of, borrowed, cluster_settings, cluster_urls
from .errors import PlannerError
from .outcome import Progress, RunReport
from .plan import Plan
from .preflight import masked
from .record import RunRecord
from .routing import consumed_queues, plan_queues, queue_of_nodes
from .stall import DEFAULT_STALL_TIMEOUT
from .submission import start
from .waiting import MAX_RESULT_BYTES, POLL_INTERVAL, follow, nodes_of


def run_graph(user_graph: nx.DiGraph, *, local: bool = False, broker: str | None = None, backend: str | None = None,
              workers: int = 0, concurrency: int | None = None, strategy: str = "auto",
              timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
              max_result_bytes: int = MAX_RESULT_BYTES, poll_interval: float = POLL_INTERVAL,
              worker_pythonpath: list[str] | None = None, stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
              parameters: dict | None = None, on_start: Callable[[RunRecord], None] | None = None,
              resume: dict | None = None) -> RunReport:
    """Plan ``user_graph`` and run it: on the embedded worker with ``local``
    (or when neither ``broker`` nor the app configures one), else on the
    cluster behind ``broker``, optionally starting ``workers`` local worker
    processes for the run. Workers started for the run consume every queue
    the plan's tasks are routed to. A run in which nothing starts or finishes
    for ``stall_timeout`` seconds while no worker holds a node ends STALLED
    (``0``/``None``: wait). ``parameters`` (the graph function's) go into
    the report. ``on_start`` gets the run's record as soon as it is sent.
    ``resume``, a report written by ``planner run --json``, reuses the nodes
    that succeeded there and did not change (:mod:`planner.resume`); the
    rest runs by exact dispatch."""
    from .planning import make_plan
    from .planning import signatures as signatures_of
    from .resume import fingerprints, reusable

    signatures = signatures_of(user_graph)
    app = app_of(signatures)
    plan = make_plan(user_graph, "exact" if resume is not None else strategy)
    reused = reusable(plan.graph, fingerprints(plan.graph, signatures), resume) if resume is not None else {}
    if local and (broker or workers):
        raise PlannerError("--local runs on the embedded worker: it cannot be combined with --broker or --workers")
    embedded = local or (not broker and not app.conf.broker_url)
    if embedded and workers:
        raise PlannerError("--workers needs a broker the worker processes can share: give --broker redis://...")
    with contextlib.ExitStack() as stack:
        if embedded:
            where, warnings = stack.enter_context(on_embedded_worker(app, plan, signatures, concurrency))
        else:
            broker_url, backend_url = cluster_urls(app, broker, backend)
            where, warnings = stack.enter_context(on_cluster(
                app, plan, signatures, broker_url, backend_url, workers=workers, concurrency=concurrency,
                worker_pythonpath=worker_pythonpath))
        record = start(plan, signatures, app, queues=queue_of_nodes(plan_queues(app, plan, signatures)),
                       parameters=parameters, where=where, warnings=warnings, embedded=embedded,
                       done={name: entry.get("result") for name, entry in reused.items()})
        if on_start:
            on_start(record)
        nodes = nodes_of(record)
        for name, node in nodes.items():
            if name in reused:
                _reuse(node, reused[name])
        return follow(record, app, nodes, timeout=timeout, on_progress=on_progress,
                      max_result_bytes=max_result_bytes, poll_interval=poll_interval, stall_timeout=stall_timeout)


def _reuse(node, entry: dict) -> None:
    """``node`` as the resumed report has it: SUCCESS, its result, when and
    where it ran."""
    node.state, node.result, node.reused = "SUCCESS", entry.get("result"), True
    node.started, node.finished, node.worker = entry.get("started"), entry.get("finished"), entry.get("worker")
    node.tries, node.runs = int(entry.get("tries") or 1), int(entry.get("runs") or entry.get("tries") or 1)


@contextlib.contextmanager
def on_embedded_worker(app, plan: Plan, signatures: Mapping, concurrency: int | None = None,
                       ) -> Iterator[tuple[str, list[str]]]:
    """``app`` pointed at the in-process broker and store, with the embedded
    worker consuming every queue the plan uses, until the block ends;
    yields where the run goes and the preflight's warnings (none)."""
    from .embedded import DEFAULT_CONCURRENCY, embedded_worker, in_memory_settings

    threads = concurrency or DEFAULT_CONCURRENCY
    with borrowed(app, {**in_memory_settings(), **JSON_SETTINGS}):
        check_exact_support(plan, app)
        queues = consumed_queues(app, plan, signatures)
        with embedded_worker(app, concurrency=threads, queues=queues):
            yield f"embedded worker ({threads} threads{_queues_text(queues)})", []


def _queues_text(queues: list[str]) -> str:
    return f", queues {', '.join(queues)}" if len(queues) > 1 else ""


@contextlib.contextmanager
def on_cluster(app, plan: Plan, signatures: Mapping, broker_url: str, backend_url: str, *, workers: int = 0,
               concurrency: int | None = None, worker_pythonpath: list[str] | None = None,
               preflight: bool = True) -> Iterator[tuple[str, list[str]]]:
    """``app`` pointed at the cluster (JSON only) until the block ends, after
    the preflight (broker, backend, exact support, a live consumer with the
    tasks for every queue the plan uses), with ``workers`` local worker
    processes started for the run; yields where the run goes and the
    preflight's warnings."""
    from . import preflight as checks

    with borrowed(app, cluster_settings(app, broker_url, backend_url)), contextlib.ExitStack() as stack:
        app.set_current()
        if preflight or workers:
            checks.check_broker(app)
            checks.check_backend(app)
        check_exact_support(plan, app)
        needs = queue_needs(app, plan, signatures)
        warnings: list[str] = []
        names: list[str] = []
        if workers:
            from .local_workers import local_workers

            names = stack.enter_context(local_workers(
                app, signatures, broker_url, backend_url, count=workers, concurrency=concurrency or 2,
                pythonpath=worker_pythonpath or [], queues=consumed_queues(app, plan, signatures)))
        elif preflight:
            names = checks.check_workers(app, [queue for queue in needs if queue])
        if preflight or workers:
            warnings = checks.check_queues(app, needs, names)
            warnings += checks.check_worker_settings(app, names, plan.strategy)
        count = f" ({len(names)} worker{'s' * (len(names) != 1)})" if names else ""
        yield f"{masked(broker_url)}{count}", warnings


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
    """Start ``plan`` on ``app`` (already pointed at a broker with live
    workers) and follow it to the end, ``timeout`` seconds, or
    ``stall_timeout`` seconds in which nothing moved (see :mod:`planner.stall`)."""
    record = start(plan, signatures, app, queues=queue_of_nodes(plan_queues(app, plan, signatures)), where=where)
    return follow(record, app, timeout=timeout, on_progress=on_progress, max_result_bytes=max_result_bytes,
                  poll_interval=poll_interval, stall_timeout=stall_timeout)
