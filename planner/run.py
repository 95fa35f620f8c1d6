"""Running a plan: submit it to Celery, follow every node in the result
store, and collect what happened (no printing: see :mod:`planner.report`).

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
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

import networkx as nx

from .errors import PlannerError
from .plan import Plan, leaves
from .preflight import masked

SUCCESS, FAILURE, SKIPPED, UNFINISHED = "SUCCESS", "FAILURE", "SKIPPED", "UNFINISHED"
TIMEOUT = "TIMEOUT"
FAILED_STATES = {"FAILURE", "REVOKED", "REJECTED"}
POLL_INTERVAL = 0.02
MAX_RESULT_BYTES = 64 * 1024


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


# --- the app and where it runs ------------------------------------------------------------------------


def app_of(signatures: Mapping) -> object:
    """The one Celery app all the graph's tasks belong to."""
    apps = {}
    for name, sig in signatures.items():
        task = getattr(sig, "type", None)
        app = getattr(task, "app", None) or getattr(sig, "app", None)
        if app is None:
            raise PlannerError(f"node '{name}': cannot tell which Celery app its task '{sig.task}' belongs to")
        apps.setdefault(id(app), (app, name))
    if len(apps) > 1:
        described = ", ".join(f"'{app.main}' (node '{node}')" for app, node in apps.values())
        raise PlannerError(f"the graph's tasks belong to different Celery apps: {described}; use one app")
    return next(iter(apps.values()))[0]


JSON_SETTINGS = {"task_serializer": "json", "result_serializer": "json", "accept_content": ["json"],
                 "result_accept_content": ["json"], "result_extended": True}


def force_json(app) -> None:
    app.conf.update(JSON_SETTINGS)


@contextlib.contextmanager
def borrowed(app, settings: dict):
    """Apply ``settings`` to ``app`` for the run and put the app's own back
    after, so a program that runs a graph keeps its app as it was."""
    from .embedded import forget_connections

    previous = {key: app.conf.get(key) for key in settings}
    forget_connections(app)  # a backend or pool made earlier would still talk to the old URLs
    app.conf.update(settings)
    try:
        yield app
    finally:
        forget_connections(app)
        app.conf.update(previous)


def cluster_urls(app, broker: str | None, backend: str | None) -> tuple[str, str]:
    """The broker and result backend a cluster run uses."""
    if broker and str(broker).startswith("memory://"):
        raise PlannerError("a memory:// broker lives in one process: use --local for the embedded worker")
    own_broker, own_backend = app.conf.broker_url, app.conf.result_backend
    if str(own_broker or "").startswith("memory://"):  # left by an embedded run in this process
        own_broker, own_backend = None, None
    broker = broker or own_broker
    if not broker:
        raise PlannerError("no broker: give --broker URL (or run --local)")
    scheme = str(broker).split("://", 1)[0]
    backend = backend or own_backend
    if not backend:
        if scheme in ("redis", "rediss"):
            backend = broker
        else:
            raise PlannerError(f"no result backend for the {scheme}:// broker {masked(broker)}: "
                               "give --backend redis://HOST:6379/0")
    backend_scheme = str(backend).split("://", 1)[0]
    if backend_scheme in ("rpc", "amqp", "disabled"):
        raise PlannerError(f"the result backend {masked(backend)} cannot be read by task id: "
                           "give --backend redis://HOST:6379/0")
    if backend_scheme.startswith("cache") and "memory" in str(backend):
        raise PlannerError("the cache+memory:// result backend lives in one process: give --backend redis://...")
    return str(broker), str(backend)


def cluster_settings(app, broker: str, backend: str) -> dict:
    """The configuration of a run on ``broker``/``backend``."""
    from .embedded import POLLING_INTERVAL

    options = dict(app.conf.broker_transport_options or {})
    if options.get("polling_interval") == POLLING_INTERVAL:  # set for the embedded worker, not for this broker
        del options["polling_interval"]
    return {"broker_url": broker, "result_backend": backend, "broker_transport_options": options, **JSON_SETTINGS}


# --- the whole run ------------------------------------------------------------------------------------


def run_graph(user_graph: nx.DiGraph, *, local: bool = False, broker: str | None = None, backend: str | None = None,
              workers: int = 0, concurrency: int | None = None, strategy: str = "auto",
              timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
              max_result_bytes: int = MAX_RESULT_BYTES, poll_interval: float = POLL_INTERVAL,
              worker_pythonpath: list[str] | None = None) -> RunReport:
    """Plan ``user_graph`` and run it: on the embedded worker with ``local``
    (or when neither ``broker`` nor the app configures one), else on the
    cluster behind ``broker``, optionally starting ``workers`` local worker
    processes for the run."""
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
            with embedded_worker(app, concurrency=threads):
                return run_plan(plan, signatures, app, timeout=timeout, on_progress=on_progress,
                                max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                                where=f"embedded worker ({threads} threads)")
    broker_url, backend_url = cluster_urls(app, broker, backend)
    with borrowed(app, cluster_settings(app, broker_url, backend_url)):
        return _run_on_cluster(app, plan, signatures, broker_url, backend_url, workers=workers,
                               concurrency=concurrency, timeout=timeout, on_progress=on_progress,
                               max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                               worker_pythonpath=worker_pythonpath)


def _run_on_cluster(app, plan, signatures, broker_url, backend_url, *, workers, concurrency, timeout,
                    on_progress, max_result_bytes, poll_interval, worker_pythonpath) -> RunReport:
    from . import preflight

    app.set_current()
    preflight.check_broker(app)
    preflight.check_backend(app)
    check_exact_support(plan, app)
    needed = required_tasks(plan, signatures)
    with contextlib.ExitStack() as stack:
        if workers:
            names = stack.enter_context(local_workers(
                app, signatures, broker_url, backend_url, count=workers, concurrency=concurrency or 2,
                pythonpath=worker_pythonpath or []))
        else:
            names = preflight.check_workers(app)
        warnings = preflight.check_registered(app, needed, names)
        report = run_plan(plan, signatures, app, timeout=timeout, on_progress=on_progress,
                          max_result_bytes=max_result_bytes, poll_interval=poll_interval,
                          where=f"{masked(broker_url)} ({len(names)} worker{'s' * (len(names) != 1)})")
        report.warnings[:0] = warnings
        return report


def required_tasks(plan: Plan, signatures: Mapping) -> set[str]:
    """The task names the workers must have for this plan."""
    names = {signatures[name].task for name in plan.graph}
    if any(task.gather for task in leaves(plan.root)):
        names.add("planner.gather")
    if plan.strategy == "exact":
        from . import exact

        names |= set(exact.REQUIRED_TASKS)
    return names


def check_exact_support(plan: Plan, app) -> None:
    """One line (exit 2) when an exact plan meets a result backend that cannot
    hold its run state."""
    if plan.strategy == "exact":
        from . import exact

        exact.check_support(app)


# --- submit and follow ----------------------------------------------------------------------------------


def run_plan(plan: Plan, signatures: Mapping, app, *, timeout: float | None = None,
             on_progress: Callable[[Progress], None] | None = None, max_result_bytes: int = MAX_RESULT_BYTES,
             poll_interval: float = POLL_INTERVAL, where: str = "") -> RunReport:
    """Submit ``plan`` on ``app`` (already pointed at a broker with live
    workers) and follow it to the end or ``timeout`` seconds."""
    from celery import uuid

    from .tasks import RUN_HEADER, STARTED_SUFFIX  # noqa: F401  (the helpers register on import)

    run_id = uuid()
    task_ids = {name: uuid() for name in plan.graph}
    tagged = {name: _tagged(signatures[name], RUN_HEADER, run_id) for name in plan.graph}
    started_at = time.monotonic()
    exact_run = submit(plan, tagged, app, task_ids)
    nodes = {name: NodeRun(name, task_ids[name]) for name in plan.graph}
    report = RunReport(plan, nodes, where=where, timeout=timeout)
    watcher = Watcher(plan, app, nodes)
    deadline = None if timeout is None else started_at + timeout
    try:
        while True:
            finished_now = watcher.poll()
            if on_progress and (finished_now or watcher.changed):
                on_progress(watcher.progress(finished_now))
            if watcher.over:
                report.status = FAILURE if watcher.failed else SUCCESS
                break
            if deadline is not None and time.monotonic() >= deadline:
                report.status = TIMEOUT
                _cancel(app, nodes, exact_run)
                break
            time.sleep(poll_interval)
    except KeyboardInterrupt:
        _cancel(app, nodes, exact_run)  # Ctrl-C stops the run, not only the command
        raise
    report.elapsed = time.monotonic() - started_at
    report.warnings.extend(large_results(plan, nodes, max_result_bytes))
    return report


def submit(plan: Plan, signatures: Mapping, app, task_ids: Mapping[str, str]) -> str | None:
    """Send the plan: one canvas, or the exact dispatcher's roots (then
    return the exact run's id)."""
    if plan.strategy == "exact":
        from . import exact

        return exact.submit(plan, signatures, app, task_ids)
    from .canvas import to_canvas

    canvas, _ = to_canvas(plan, signatures, task_ids)
    canvas.apply_async()
    return None


def _tagged(sig, header: str, run_id: str):
    """A clone of ``sig`` whose messages carry the run's header (so workers
    record the node's start time)."""
    clone = sig.clone()
    headers = dict(clone.options.get("headers") or {})
    headers[header] = run_id
    clone.set(headers=headers)
    return clone


def _cancel(app, nodes: Mapping[str, NodeRun], exact_run: str | None) -> None:
    """Stop what has not run: revoke the unfinished nodes' task ids (workers
    drop those messages, even ones sent later) and, for an exact run, stop
    its dispatch (nodes a segment message would run inline have no message
    of their own to revoke)."""
    if exact_run is not None:
        from . import exact

        with contextlib.suppress(Exception):
            exact.cancel(app, exact_run)
    pending = [node.task_id for node in nodes.values() if node.state == UNFINISHED]
    if pending and not str(app.conf.broker_url).startswith("memory"):
        with contextlib.suppress(Exception):
            app.control.revoke(pending)


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
                node.worker = node.worker or start.get("worker")
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
            finished_now += self._skip_downstream()
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
            self.failed.discard(name)  # e.g. a chord body failed for its header's sake
        self.skipped |= downstream
        return newly

    def _finish(self, node: NodeRun, meta: dict, state: str) -> None:
        node.state = state
        node.running = False
        node.finished = _timestamp(meta.get("date_done")) or time.time()
        node.worker = meta.get("worker") or node.worker
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


# --- worker processes for people without a cluster ------------------------------------------------------


@contextlib.contextmanager
def local_workers(app, signatures: Mapping, broker: str, backend: str, count: int = 1, concurrency: int = 2,
                  pythonpath: list[str] | None = None, ready_timeout: float = 60.0):
    """Start ``count`` prefork ``celery worker`` processes for the run;
    yield their names; stop them after."""
    from .preflight import live_workers

    modules = []
    for sig in signatures.values():
        module = getattr(sig.type, "__module__", None) or ""
        if module.startswith("_planner_graph_") or module in ("__main__", ""):
            raise PlannerError(f"--workers: task '{sig.task}' is defined in the graph file itself; "
                               "move the tasks to a module the workers can import")
        if module not in modules:
            modules.append(module)
    env = dict(os.environ)
    paths = [str(p) for p in (pythonpath or [])] + [os.getcwd()]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    tag = os.urandom(3).hex()
    processes, names, logs = [], [], []
    try:
        for index in range(count):
            name = f"planner{index}-{tag}@%h"
            log = Path(tempfile.mkstemp(prefix="planner-worker-", suffix=".log")[1])
            command = [sys.executable, "-m", "celery", "-A", modules[0], "-b", broker, "--result-backend", backend,
                       "worker", "-P", "prefork", "-c", str(concurrency),
                       "--include", ",".join(["planner.tasks", *modules[1:]]), "-n", name, "-l", "warning",
                       "--without-gossip", "--without-mingle", "--without-heartbeat"]
            with open(log, "wb") as handle:
                processes.append(subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                                  start_new_session=True))
            logs.append(log)
        deadline = time.monotonic() + ready_timeout
        while True:
            for process, log in zip(processes, logs, strict=False):
                if process.poll() is not None:
                    last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
                    raise PlannerError(f"a local worker exited at start ({log}): {' '.join(last)[:300]}")
            names = [n for n in live_workers(app, timeouts=(0.5,)) if n.startswith("planner") and tag in n]
            if len(names) >= count:
                break
            if time.monotonic() > deadline:
                raise PlannerError(f"the {count} local worker(s) did not answer within {ready_timeout:g} s (logs: {logs[0]})")
        yield names
    finally:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        for log in logs:
            with contextlib.suppress(OSError):
                log.unlink()
