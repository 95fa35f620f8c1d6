"""Worker processes for people without a cluster: ``planner run --workers N``
starts prefork ``celery worker`` processes for the run and stops them after.

>>> with local_workers(app, signatures, broker, backend, count=2) as names:   # doctest: +SKIP
...     run_plan(plan, signatures, app)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

from .apps import app_reference
from .errors import PlannerError


@contextlib.contextmanager
def local_workers(app, signatures: Mapping, broker: str, backend: str, count: int = 1, concurrency: int = 2,
                  pythonpath: list[str] | None = None, ready_timeout: float = 60.0, queues: list[str] | None = None):
    """Start ``count`` prefork ``celery worker`` processes for the run,
    consuming ``queues`` (default: the app's default queue); yield their
    names; stop them after."""
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
            command = [sys.executable, "-m", "celery", "-A", app_reference(app, modules[0]), "-b", broker,
                       "--result-backend", backend, "worker", "-P", "prefork", "-c", str(concurrency),
                       "--include", ",".join(["planner.tasks", *modules]), "-n", name, "-l", "warning",
                       "--without-gossip", "--without-mingle", "--without-heartbeat"]
            if queues:
                command += ["-Q", ",".join(queues)]
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

