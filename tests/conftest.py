"""Shared fixtures: real servers, never stand-ins."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mermaid_render  # noqa: E402
from servers import Workers, rabbitmq_vhost, redis_server  # noqa: E402

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def redis_base_url():
    """A private redis-server for the whole session (started and stopped here)."""
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_base_url):
    """A fresh Redis database for one test (db 1..15, cycled and flushed)."""
    import redis

    number = next(_db_numbers) % 15 + 1
    url = f"{redis_base_url}/{number}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def amqp_url():
    """The machine's RabbitMQ (guest/guest), in a virtual host of this session's
    own; tests using it skip when it is down."""
    with rabbitmq_vhost() as url:
        if url is None:
            pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
        yield url


@pytest.fixture
def workers():
    """Factory: ``workers(app_module, broker, backend, count=1, concurrency=2)``
    starts real ``celery worker`` processes, stopped after the test."""
    started: list[Workers] = []

    def start(app_module: str, broker: str, backend: str, **options) -> Workers:
        group = Workers(app_module, broker, backend, **options)
        started.append(group)
        return group.start()

    yield start
    for group in started:
        group.stop()


@pytest.fixture(scope="session")
def mermaid_renderer():
    """Real Mermaid in one headless Chromium for the whole session
    (tests/mermaid_render.py), or None where it is not installed: tests that
    need it skip through ``real_mermaid``, naming what is missing."""
    if mermaid_render.missing():
        yield None
        return
    with mermaid_render.MermaidRenderer() as renderer:
        _mermaid_sessions.append(renderer)
        yield renderer


@pytest.fixture
def real_mermaid(mermaid_renderer):
    if mermaid_renderer is None:
        pytest.skip(f"real Mermaid is not installed here ({mermaid_render.missing()}): "
                    "`make mermaid` installs it (Debian's chromium and npm, then tests/mermaid)")
    return mermaid_renderer


_mermaid_sessions: list = []


def pytest_terminal_summary(terminalreporter):
    for renderer in _mermaid_sessions:
        slowest = ", ".join(f"{seconds:.1f} s ({chars:,} characters)" for seconds, chars in renderer.slowest[:3])
        terminalreporter.write_line(f"real Mermaid {renderer.version}: {renderer.count} diagrams rendered "
                                    f"in {renderer.seconds:.1f} s; slowest {slowest}")


@pytest.fixture(scope="module")
def redis_cluster():
    """Two prefork workers of the workload app on a redis-server of the
    module's own (the session's databases are handed out to other tests,
    whose workers must not meet these)."""
    with redis_server() as base:
        url = f"{base}/0"
        with Workers("workload.tasks", url, url, count=2, concurrency=3):
            yield url
