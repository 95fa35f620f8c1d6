"""The embedded default: a real Celery worker in this process.

``planner run`` uses it when no broker is given (or with ``--local``): the
app is pointed at an in-memory broker and result store, and Celery's own
worker machinery (``WorkController``, threads pool) runs in a background
thread. Messages are JSON-serialized and chords are real; nothing runs eagerly.

>>> with embedded_worker(app, concurrency=8) as worker:   # doctest: +SKIP
...     canvas.apply_async()
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from .errors import PlannerError

MEMORY_BROKER = "memory://"
MEMORY_BACKEND = "cache+memory://"
# kombu's in-memory transport polls its queues; its default of 1 s made a
# small nested canvas take 6 s instead of 0.5 s.
POLLING_INTERVAL = 0.005
DEFAULT_CONCURRENCY = 8


def in_memory_settings() -> dict:
    """The configuration of an app served by the embedded worker."""
    return {
        "broker_url": MEMORY_BROKER,
        "result_backend": MEMORY_BACKEND,
        "broker_transport_options": {"polling_interval": POLLING_INTERVAL},
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }


def configure_in_memory(app) -> None:
    """Point ``app`` at the in-process broker and result store."""
    forget_connections(app)
    app.conf.update(in_memory_settings())
    _raise_memory_cache_limit()


def forget_connections(app) -> None:
    """Drop the backend and connection pools ``app`` may have made, so the
    next use follows its current configuration."""
    app._backend_cache = None
    with contextlib.suppress(AttributeError):
        del app._local.backend
    app._pool = None  # kombu keeps pools per URL: dropping our reference is enough
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def _raise_memory_cache_limit(limit: int = 1_000_000) -> None:
    # The in-memory result store is one process-wide LRU of 5000 keys by
    # default; a large graph would evict results the run still reads.
    from celery.backends import cache

    shared = getattr(cache, "_DUMMY_CLIENT_CACHE", None)
    if shared is not None and getattr(shared, "limit", None) is not None:
        shared.limit = max(shared.limit, limit)


@contextlib.contextmanager
def embedded_worker(app, concurrency: int = DEFAULT_CONCURRENCY, start_timeout: float = 30.0,
                    stop_timeout: float = 1.0, hostname: str | None = None, queues: list[str] | None = None):
    """Run a real worker (threads pool) for ``app`` in a background thread,
    consuming ``queues`` (default: the app's declared queues), and stop it on
    exit. The app must already point at its broker (see
    :func:`configure_in_memory`)."""
    from celery import _state
    from celery._state import task_join_will_block
    from celery.result import _set_task_join_will_block
    from celery.worker import WorkController, state

    import planner.tasks  # noqa: F401  (the helpers must be registered)

    app.finalize()
    _raise_memory_cache_limit()
    # ``queues`` selects what the worker consumes, app-wide (as ``-Q`` does): put it back after.
    consumed_before = app.amqp.queues._consume_from
    # Canvases rebuilt inside tasks (a chain continuing into a chord) look up
    # the *current* app, which in pool threads is the default app.
    previous_default = _state.default_app
    app.set_default()
    ready = threading.Event()
    failure: list[BaseException] = []

    class Controller(WorkController):
        def on_consumer_ready(self, consumer):  # the worker consumes: tasks can be sent
            ready.set()

    logging.getLogger("celery").setLevel(logging.ERROR)
    # A worker marks the whole process as "inside a task" (result.get() then
    # refuses to block); the caller's own .get() must work again after.
    joins_blocked = task_join_will_block()
    worker = Controller(
        app=app,
        concurrency=concurrency,
        pool="threads",
        hostname=hostname or f"embedded@{socket.gethostname()}",
        loglevel=logging.ERROR,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        ready_callback=None,
        queues=queues or None,
    )

    def run():
        try:
            worker.start()
        except BaseException as error:  # reported to the caller below
            failure.append(error)
        finally:
            ready.set()

    state.should_terminate = None
    state.should_stop = None
    thread = threading.Thread(target=run, name="planner-embedded-worker", daemon=True)
    thread.start()
    if not ready.wait(start_timeout) or failure:
        _stop(app, thread, state, stop_timeout)
        _set_task_join_will_block(joins_blocked)
        _state.set_default_app(previous_default)
        app.amqp.queues._consume_from = consumed_before
        reason = f": {type(failure[0]).__name__}: {failure[0]}" if failure else ""
        raise PlannerError(f"the embedded worker did not start within {start_timeout:g} s{reason}")
    try:
        yield worker
    finally:
        _stop(app, thread, state, stop_timeout)
        _set_task_join_will_block(joins_blocked)
        _state.set_default_app(previous_default)
        app.amqp.queues._consume_from = consumed_before


def _stop(app, thread: threading.Thread, state, timeout: float) -> None:
    # The consumer checks this flag between reads, and an idle read waits up
    # to 2 s: no-op messages wake it at once. Tasks still running (after a
    # timeout) are not waited for beyond ``timeout``.
    state.should_terminate = 0
    if thread.is_alive():
        with contextlib.suppress(Exception):
            for _ in range(2):  # one for the read in progress, one for the read after the flag is seen
                app.send_task("planner.noop", ignore_result=True)
    thread.join(timeout)
    state.should_terminate = None
