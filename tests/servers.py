"""Real servers for the suite: a private ``redis-server`` on a free loopback
port, and ``celery worker`` processes (prefork) against any broker.

Every wait has a timeout; every process is stopped on exit.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


@contextlib.contextmanager
def redis_server(timeout: float = 10.0):
    """Start a throw-away redis-server; yield its base URL (no db number)."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server not found: install it with apt-get install redis-server (make test does)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="planner-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        # Result objects left in reference cycles unsubscribe from the server when
        # collected: collect them while it still answers, not at interpreter exit.
        gc.collect()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def rabbitmq_vhost(host: str = "127.0.0.1", port: int = 5672):
    """A private RabbitMQ virtual host for one test session (guest/guest),
    deleted after; yields its AMQP URL, or ``None`` when RabbitMQ does not
    answer. Suites running side by side on one RabbitMQ (two checkouts, CI
    beside a developer) then never consume each other's messages or answer
    each other's pings. Without ``rabbitmqctl`` the default vhost is used."""
    if not port_open(host, port):
        yield None
        return
    ctl = shutil.which("rabbitmqctl") or ("/usr/sbin/rabbitmqctl" if os.path.exists("/usr/sbin/rabbitmqctl") else None)
    vhost = f"planner-test-{os.getpid()}-{os.urandom(3).hex()}"

    def rabbitmqctl(*args: str) -> bool:
        try:
            return subprocess.run([ctl, *args], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    if ctl is None or not rabbitmqctl("add_vhost", vhost):
        yield f"amqp://guest:guest@{host}:{port}//"
        return
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{host}:{port}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


class Workers:
    """``celery worker`` processes started for a test; ``.processes`` are the
    Popen objects (SIGKILL one to test worker loss)."""

    def __init__(self, app_module: str, broker: str, backend: str, count: int = 1, concurrency: int = 2,
                 pythonpath: list[str] | None = None, extra_args: list[str] | None = None):
        self.app_module, self.broker, self.backend = app_module, broker, backend
        self.count, self.concurrency = count, concurrency
        self.pythonpath = [str(ROOT), str(ROOT / "tests")] + [str(p) for p in (pythonpath or [])]
        self.extra_args = extra_args or []
        self.processes: list[subprocess.Popen] = []
        self.names: list[str] = []
        self.logs: list[Path] = []

    def start(self, timeout: float = 40.0) -> "Workers":
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(self.pythonpath + [env.get("PYTHONPATH", "")])
        tag = os.urandom(3).hex()
        for i in range(self.count):
            name = f"w{i}-{tag}@127.0.0.1"
            log = Path(tempfile.mkstemp(prefix="planner-worker-", suffix=".log")[1])
            command = [sys.executable, "-m", "celery", "-A", self.app_module, "-b", self.broker,
                       "--result-backend", self.backend, "worker", "-P", "prefork", "-c", str(self.concurrency),
                       "--include", "planner.tasks", "-n", name, "-l", "warning",
                       "--without-gossip", "--without-mingle", "--without-heartbeat", *self.extra_args]
            with open(log, "wb") as handle:
                self.processes.append(subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                                       start_new_session=True))
            self.names.append(name)
            self.logs.append(log)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        from celery import Celery

        probe = Celery("probe", broker=self.broker, backend=self.backend)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for process, log in zip(self.processes, self.logs, strict=True):
                    if process.poll() is not None:
                        raise RuntimeError(f"celery worker exited early:\n{log.read_text()[-3000:]}")
                try:
                    answered = {name for reply in probe.control.ping(timeout=0.5) or [] for name in reply}
                except (ConnectionError, OSError):
                    # A loaded RabbitMQ may reset the probe's connection while workers start: ask again.
                    probe.pool.force_close_all()
                    time.sleep(0.2)
                    continue
                if set(self.names) <= answered:
                    return
            raise RuntimeError("celery workers did not answer ping in time")
        finally:
            probe.close()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def __enter__(self) -> "Workers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
