"""planner inside applications: start a run from a web request and return
at once, then follow it by id from any process or machine that reaches the
result backend.

- :func:`submit` validates and plans the graph as ``planner run`` does
  (the same one-line :class:`~planner.errors.PlannerError`), checks the
  cluster (the preflight of ``planner run``), sends the run, stores its
  record (:mod:`planner.record`) and returns a :class:`Run`.
- :func:`attach` gets the same :class:`Run` back from its id.
- :class:`Run`: ``id``, ``status()`` (node → state), ``report()`` (a
  snapshot), ``wait()`` (the :class:`~planner.outcome.RunReport` of
  ``planner run --json``), ``cancel()``.

>>> run = submit(graph)                          # doctest: +SKIP
>>> attach(run.id, app=celery_app).status()      # doctest: +SKIP
{'extract': 'SUCCESS', 'orders': 'RUNNING', 'load': 'PENDING'}
>>> attach(run.id, app=celery_app).wait(timeout=60).status   # doctest: +SKIP
'SUCCESS'
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from typing import Callable

from .errors import PlannerError
from .outcome import CANCELLED, FAILURE, RUNNING, SUCCESS, UNFINISHED, Progress, RunReport, explain_skips
from .record import RunRecord

PENDING = "PENDING"  # not started yet (Run.status())


class Run:
    """A run started by :func:`submit` or found by :func:`attach`.

    ``app`` reads the run's result backend (and reaches its broker, to
    cancel and to ask workers what they hold). A run on the embedded worker
    (``submit(..., local=True)``) lives in this process: its worker is
    stopped when :meth:`wait` ends or the run is closed (``with submit(...)
    as run:``)."""

    def __init__(self, record: RunRecord, app, *, has_broker: bool = True,
                 worker: contextlib.ExitStack | None = None):
        from .follow import Watcher
        from .waiting import nodes_of

        self.record, self.app, self.has_broker = record, app, has_broker
        self._worker = worker
        self._ended = False  # a local run whose worker stopped: its states are final
        self.nodes = nodes_of(record)
        self._watcher = Watcher(record.plan, app, self.nodes, run_id=record.run_id)
        self._lock = threading.Lock()  # a web app may share a Run between threads: one poll at a time

    @property
    def id(self) -> str:
        """The run's id: :func:`attach` and ``planner status`` take it."""
        return self.record.run_id

    def status(self) -> dict[str, str]:
        """Node → SUCCESS, FAILURE, SKIPPED, RUNNING (a worker holds it) or
        PENDING, read from the result backend now."""
        self._poll()
        return {name: _state(node) for name, node in self.nodes.items()}

    def report(self) -> RunReport:
        """The run's report as it stands: status RUNNING while it goes on,
        else SUCCESS or FAILURE."""
        from .mapping import describe_maps
        from .waiting import elapsed, report_of

        self._poll()
        with self._lock:  # a copy: later polls do not change a report handed out
            nodes = {name: dataclasses.replace(node) for name, node in self.nodes.items()}
        report = report_of(self.record, nodes)
        over = self._watcher.over
        report.status = (FAILURE if self._watcher.failed else SUCCESS) if over else RUNNING
        ended = self._watcher.failed if over else not any(node.running for node in nodes.values())
        if ended and self._cancelled():  # what failed was revoked, what waits will never be sent
            report.status = CANCELLED
        explain_skips(self.record.plan, nodes)
        describe_maps(self.app.backend, nodes)
        report.elapsed = elapsed(self.record, nodes, finished_before=over)
        return report

    def wait(self, timeout: float | None = None, *, on_progress: Callable[[Progress], None] | None = None,
             stall_timeout: float | None = None) -> RunReport:
        """Follow the run to its end (or ``timeout`` seconds; ``stall_timeout``
        seconds in which nothing moved and no worker held a node) and return
        its report: the object behind ``planner run --json``. Waiting does
        not stop a run on a cluster (:meth:`cancel` does); on the embedded
        worker the run ends with the wait."""
        from .follow import Watcher
        from .waiting import follow, nodes_of

        local = self._worker is not None
        if self._ended:
            return self.report()
        # A watcher of its own: status() from another thread (a web app's) is answered meanwhile.
        nodes = nodes_of(self.record)
        watcher = Watcher(self.record.plan, self.app, nodes, run_id=self.record.run_id)
        try:
            report = follow(self.record, self.app, nodes, timeout=timeout, on_progress=on_progress,
                            stall_timeout=stall_timeout if self.has_broker else None, watcher=watcher,
                            stop_at_end=local, cancelled=self._cancelled)
            with self._lock:
                self.nodes, self._watcher = nodes, watcher
            return report
        finally:
            if local:
                self.close()

    def cancel(self) -> None:
        """Stop what has not run yet: unfinished nodes' messages are
        revoked, and an exact run sends nothing more. What runs finishes."""
        from .waiting import stop

        if self._ended:
            return
        if not self.has_broker:
            raise PlannerError(f"cannot cancel run '{self.id}' without its broker: attach with broker=URL, or an "
                               "app that has one")
        self._poll()
        stop(self.app, self.nodes, self.record)

    def close(self) -> None:
        """Stop the embedded worker of a ``local=True`` run (nothing for a
        run on a cluster)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            with self._lock:
                self._watcher.poll()  # the last word of its worker: nothing changes after
                self._ended = True
                worker.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<planner Run {self.id}: {len(self.nodes)} nodes, {self.record.plan.strategy}>"

    def _cancelled(self) -> bool:
        from .record import cancelled

        with contextlib.suppress(Exception):  # not knowing is not cancelled
            return cancelled(self.app, self.id)
        return False

    def _poll(self) -> None:
        with self._lock:
            if not self._ended:
                self._watcher.poll()


def _state(node) -> str:
    if node.state != UNFINISHED:
        return node.state
    return RUNNING if node.running else PENDING


def submit(graph, app=None, strategy: str = "auto", local: bool = False, *, parameters: dict | None = None,
           broker: str | None = None, backend: str | None = None, concurrency: int | None = None,
           preflight: bool = True) -> Run:
    """Validate and plan ``graph`` (a networkx DiGraph of signatures) as
    ``planner run`` does, check the cluster, send the run and return at
    once. ``app`` defaults to the app of the graph's tasks, ``broker`` and
    ``backend`` to the app's. ``local=True`` runs it on the embedded worker
    of this process (``concurrency`` threads) until the run is waited for or
    closed. ``parameters`` (the graph function's, JSON) go into the report.
    ``preflight=False`` skips asking the workers (a second or so)."""
    from .apps import app_of, cluster_urls
    from .graphfile import validate
    from .planning import STRATEGIES, make_plan
    from .planning import signatures as signatures_of
    from .routing import plan_queues, queue_of_nodes
    from .run import on_cluster, on_embedded_worker
    from .submission import start

    if strategy not in STRATEGIES:
        raise PlannerError(f"unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    validate(graph)
    signatures = signatures_of(graph)
    app = app or app_of(signatures)
    plan = make_plan(graph, strategy)
    parameters = dict(parameters or {})
    if local:
        if broker or backend:
            raise PlannerError("local=True runs on the embedded worker: it takes no broker or backend")
        if not _local_run.acquire(blocking=False):  # the embedded worker is one per process
            raise PlannerError("a local run is already going in this process: wait for it or close it first")
        worker = contextlib.ExitStack()
        worker.callback(_local_run.release)
        try:
            where, warnings = worker.enter_context(on_embedded_worker(app, plan, signatures, concurrency))
            record = start(plan, signatures, app, queues=queue_of_nodes(plan_queues(app, plan, signatures)),
                           parameters=parameters, where=where, warnings=warnings, embedded=True)
        except BaseException:
            worker.close()
            raise
        return Run(record, app, worker=worker)
    if not broker and not app.conf.broker_url:
        raise PlannerError(f"the app '{app.main}' has no broker: set its broker_url, give broker=URL, "
                           "or submit(..., local=True) for the embedded worker")
    broker_url, backend_url = cluster_urls(app, broker, backend)
    # One submission at a time per process: the app's settings are borrowed while it sends.
    with _submitting, on_cluster(app, plan, signatures, broker_url, backend_url, preflight=preflight) as placed:
        where, warnings = placed
        record = start(plan, signatures, app, queues=queue_of_nodes(plan_queues(app, plan, signatures)),
                       parameters=parameters, where=where, warnings=warnings)
    return Run(record, _reader(broker_url, backend_url))


def attach(run_id: str, app=None, *, broker: str | None = None, backend: str | None = None) -> Run:
    """The run ``run_id``, from any process that reaches its result backend:
    ``backend`` (else ``app``'s, else the current Celery app's, else a
    Redis ``broker``). ``broker`` (else the app's) is needed to cancel.
    An unknown or expired id, or an unreachable backend, is a one-line
    :class:`PlannerError`."""
    from . import preflight
    from .embedded import MEMORY_BACKEND
    from .record import load

    if app is None and not (broker or backend):
        from celery import current_app

        app = current_app
    own_broker = str(app.conf.broker_url or "") if app is not None else ""
    own_backend = str(app.conf.result_backend or "") if app is not None else ""
    broker = broker or (own_broker if not own_broker.startswith("memory://") else None) or None
    backend = backend or own_backend or None
    if backend is None and broker and broker.split("://", 1)[0] in ("redis", "rediss"):
        backend = broker
    if not backend:
        raise PlannerError(f"cannot attach to run '{run_id}': no result backend to read it from: give "
                           "backend=URL (planner status --backend redis://...), or the app whose backend holds it")
    if backend.startswith("memory") or backend == MEMORY_BACKEND:
        broker = None  # the embedded worker's run: this process only
    reader = _reader(broker, backend)
    preflight.check_backend(reader)
    return Run(load(reader, str(run_id)), reader, has_broker=bool(broker))


_submitting = threading.Lock()
_local_run = threading.Lock()
_readers: dict[tuple[str | None, str], object] = {}
_readers_lock = threading.Lock()


def _reader(broker: str | None, backend: str):
    """A Celery app of planner's own that reads ``backend`` (and reaches
    ``broker``), JSON only: following a run neither needs nor changes the
    user's app. One per pair of URLs, kept (each holds a connection pool)."""
    from celery import Celery

    from .apps import JSON_SETTINGS

    with _readers_lock:
        reader = _readers.get((broker, backend))
        if reader is None:
            reader = Celery("planner-reader", broker=broker or "memory://", backend=backend, set_as_current=False)
            reader.conf.update(JSON_SETTINGS)
            _readers[(broker, backend)] = reader
        return reader

