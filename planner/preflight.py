"""Checks before a run is submitted to a cluster, each with a bounded wait.

Celery's ``.get()`` waits forever when no worker listens; ``planner run``
asks first: does the broker answer, does the result store answer, is a
worker alive, does every worker know the tasks the plan sends? Each failure
is a :class:`~planner.errors.PlannerError` with one line naming the problem
(passwords in URLs masked).

>>> preflight(app, {"tasks.add", "planner.gather"})   # doctest: +SKIP
[]
"""

from __future__ import annotations

from kombu.utils.url import maybe_sanitize_url

from .errors import PlannerError

CONNECT_TIMEOUT = 3.0
PING_TIMEOUT = 1.5
PING_TIMEOUTS = (0.3, 1.0, 2.0)


def masked(url) -> str:
    """``url`` with its password replaced by ``**``.

    >>> masked("redis://:secret@localhost:6379/0")
    'redis://:**@localhost:6379/0'
    """
    return maybe_sanitize_url(str(url)) if url else str(url)


def check_broker(app, timeout: float = CONNECT_TIMEOUT) -> None:
    """The broker accepts a connection within ``timeout`` seconds."""
    url = app.conf.broker_url
    try:
        with app.connection_for_write(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=timeout)
    except Exception as error:
        raise PlannerError(f"cannot reach the broker at {masked(url)}: {_reason(error)}") from error


def check_backend(app, timeout: float = CONNECT_TIMEOUT) -> None:
    """The result store answers (checked for Redis, the store planner
    knows how to ping without Celery's unbounded retries)."""
    url = str(app.conf.result_backend or "")
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme not in ("redis", "rediss"):
        return
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        raise PlannerError(f"cannot reach the result backend at {masked(url)}: {_reason(error)}") from error


def live_workers(app, timeouts: tuple[float, ...] = PING_TIMEOUTS) -> list[str]:
    """Names of the workers answering a ping. A ping waits its whole
    timeout for replies, so it starts short and retries longer."""
    for timeout in timeouts:
        replies = app.control.ping(timeout=timeout) or []
        names = sorted(name for reply in replies for name in reply)
        if names:
            return names
    return []


def check_workers(app, timeouts: tuple[float, ...] = PING_TIMEOUTS) -> list[str]:
    """At least one worker answers; returns their names."""
    names = live_workers(app, timeouts)
    if not names:
        raise PlannerError(
            f"no Celery worker answered on {masked(app.conf.broker_url)}: start one with "
            "'celery -A <your tasks module> worker --include planner.tasks', use --workers N, or run --local"
        )
    return names


def check_registered(app, task_names, workers: list[str], timeout: float = PING_TIMEOUT) -> list[str]:
    """Every task the plan sends is registered on the live workers.

    A task no worker knows is an error. A task only some workers know is a
    warning (returned): those workers would reject it if it reached them.
    """
    # ``limit``: stop waiting once every worker we know of has answered.
    replies = app.control.inspect(destination=workers, timeout=timeout, limit=len(workers)).registered() or {}
    registered = {worker: set(names or ()) for worker, names in replies.items()}
    if not registered:
        raise PlannerError(f"the workers on {masked(app.conf.broker_url)} did not say which tasks they have")
    warnings = []
    for task in sorted(task_names):
        lacking = sorted(worker for worker, names in registered.items() if task not in names)
        if len(lacking) == len(registered):
            hint = " (start workers with --include planner.tasks)" if task.startswith("planner.") else ""
            raise PlannerError(f"no live worker has the task '{task}' registered{hint}")
        if lacking:
            warnings.append(f"task '{task}' is not registered on {', '.join(lacking)}")
    return warnings


def preflight(app, task_names, timeout: float = PING_TIMEOUT) -> list[str]:
    """All the checks, in order; returns warnings."""
    check_broker(app)
    check_backend(app)
    workers = check_workers(app)
    return check_registered(app, task_names, workers, timeout)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return masked_text(text)


def masked_text(text: str) -> str:
    """Mask anything URL-like with a password inside free text."""
    import re

    return re.sub(r"\b([a-z][a-z0-9+.-]*://)[^\s/@]*@\S+", lambda m: masked(m.group(0)), text)
