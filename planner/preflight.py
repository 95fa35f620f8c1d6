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

import contextlib

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
    except ImportError as error:  # the transport's own module is missing: not a network problem
        raise missing_package(error, url, "broker") from error
    except Exception as error:
        raise PlannerError(f"cannot reach the broker at {masked(url)}: {_reason(error)}") from error


# The pip requirement that brings each transport's modules (amqp is part of Celery itself).
TRANSPORT_EXTRAS = {"redis": "celery[redis]", "rediss": "celery[redis]", "sentinel": "celery[redis]",
                    "sqs": "celery[sqs]", "mongodb": "celery[mongodb]", "sqla": "celery[sqlalchemy]"}


def missing_package(error: ImportError, url, role: str) -> PlannerError:
    """The one-line error for a transport or backend whose Python package is
    not installed, with the command that installs it.

    >>> print(missing_package(ModuleNotFoundError("No module named 'packaging'", name="packaging"),
    ...                       "redis://localhost:6379/0", "broker"))
    the broker transport for redis://localhost:6379/0 needs the Python package 'packaging', which is not installed: pip install 'celery[redis]' (or pip install packaging)
    """
    scheme = str(url).split("://", 1)[0].split("+", 1)[-1].lower()
    module = (getattr(error, "name", None) or "").split(".")[0]
    extra = TRANSPORT_EXTRAS.get(scheme)
    if module:
        what = f"the Python package '{module}', which is not installed"
        command = f"pip install '{extra}' (or pip install {module})" if extra else f"pip install {module}"
    else:
        what = f"a Python package that is not installed ({_reason(error)})"
        command = f"pip install '{extra}'" if extra else "pip install the package it names"
    return PlannerError(f"the {role} transport for {masked(url)} needs {what}: {command}")


def check_backend(app, timeout: float = CONNECT_TIMEOUT) -> None:
    """The result store answers (checked for Redis, the store planner
    knows how to ping without Celery's unbounded retries)."""
    url = str(app.conf.result_backend or "")
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme not in ("redis", "rediss"):
        return
    try:
        import redis

        app.backend  # noqa: B018  (loads Celery's backend module, which may lack a package)
    except ImportError as error:
        raise missing_package(error, url, "result backend") from error
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


def worker_command(app, queues=()) -> str:
    """The command that starts a worker for ``app`` consuming ``queues``."""
    from .apps import app_reference

    named = [queue for queue in queues if queue]
    consume = f" -Q {','.join(named)}" if named else ""
    return f"celery -A {app_reference(app, app.main or 'APP')} worker{consume} --include planner.tasks"


def check_workers(app, queues=(), timeouts: tuple[float, ...] = PING_TIMEOUTS) -> list[str]:
    """At least one worker answers; returns their names. ``queues``, the
    queues the run uses, goes into the command the error suggests.

    A ping can only wait for replies, so where the broker itself can say
    that nobody listens (Redis: no client subscribed to broadcasts on the
    database; RabbitMQ: no consumer on any of ``queues``) the answer comes
    at once."""
    from .routing import default_queue

    named = [queue for queue in queues if queue]
    suggested = named if set(named) - {default_queue(app)} else []
    if not _anyone_listening(app, named):
        names = []
    else:
        names = live_workers(app, timeouts)
    if not names:
        raise PlannerError(
            f"no Celery worker answered on {masked(app.conf.broker_url)}: start one with "
            f"'{worker_command(app, suggested)}', use --workers N, or run --local"
        )
    return names


def _anyone_listening(app, queues: list[str]) -> bool:
    """False when the broker says at once that no worker can answer; True
    when it does not know (then ping)."""
    scheme = str(app.conf.broker_url or "").split("://", 1)[0].split("+", 1)[-1]
    try:
        if scheme in ("redis", "rediss"):
            return _redis_has_subscribers(app)
        if scheme in ("amqp", "amqps", "pyamqp") and queues:
            return any(count != 0 for count in queue_consumers(app, queues).values())
    except Exception:  # the broker could not tell: ask the workers
        return True
    return True


def _redis_has_subscribers(app) -> bool:
    """A worker answers broadcasts through a pub/sub subscription made on
    its database: is there any client subscribed there?"""
    with app.connection_for_write(connect_timeout=CONNECT_TIMEOUT) as connection:
        client = connection.default_channel.client
        database = str(client.connection_pool.connection_kwargs.get("db", 0) or 0)
        for line in _client_list(client):
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if fields.get("db") == database and (fields.get("psub", "0") != "0" or fields.get("sub", "0") != "0"):
                return True
    return False


def _client_list(client) -> list[str]:
    reply = client.execute_command("CLIENT LIST")
    if isinstance(reply, bytes):
        reply = reply.decode()
    if isinstance(reply, list):  # some clients parse the reply into one dict per client
        return [" ".join(f"{key}={value}" for key, value in item.items()) for item in reply]
    return str(reply).splitlines()


def queue_consumers(app, queues: list[str]) -> dict[str, int | None]:
    """Consumers of each queue, as the broker counts them (AMQP: 0 for a
    queue that does not exist); ``None`` where the broker cannot tell."""
    counts: dict[str, int | None] = {}
    with app.connection_for_write(connect_timeout=CONNECT_TIMEOUT) as connection:
        connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        for queue in queues:
            channel = connection.channel()
            try:
                counts[queue] = channel.queue_declare(queue=queue, passive=True).consumer_count
            except Exception as error:
                counts[queue] = 0 if getattr(error, "code", None) == 404 else None
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
    return counts


def check_queues(app, needs, workers: list[str], timeout: float = PING_TIMEOUT) -> list[str]:
    """Every queue the plan uses has a live worker consuming it, and the
    workers consuming it have the tasks sent there registered.

    ``needs``: queue → {task name → the nodes that send it} (queue ``None``:
    routed by exchange only; any worker may get those). A queue nobody
    consumes, or a task none of its consumers has, is an error naming the
    queue, the task and the fix; a task only some of them have is a warning
    (returned): those workers would reject it if it reached them.
    """
    inspector = app.control.inspect(destination=workers, timeout=timeout, limit=len(workers))
    registered = {worker: set(names or ()) for worker, names in (inspector.registered() or {}).items()}
    if not registered:
        raise PlannerError(f"the workers on {masked(app.conf.broker_url)} did not say which tasks they have")
    consuming = {worker: {queue.get("name") for queue in queues or ()}
                 for worker, queues in (inspector.active_queues() or {}).items()}
    warnings = []
    for queue, tasks in needs.items():
        if queue is None or not consuming:  # no queue name, or the workers would not say: any worker
            consumers = sorted(registered)
        else:
            consumers = sorted(worker for worker, names in consuming.items() if queue in names)
        if not consumers:
            node = _first_node(tasks)
            others = sorted({name for names in consuming.values() for name in names if name})
            all_queues = others + [queue]
            raise PlannerError(
                f"no live worker consumes the queue '{queue}' that {node} is routed to: add -Q {queue} to a "
                f"worker's command (e.g. '{worker_command(app, all_queues)}')")
        for task in sorted(tasks):
            lacking = [worker for worker in consumers if task not in registered.get(worker, ())]
            if len(lacking) == len(consumers):
                narrowed = queue is not None and consuming and len(consumers) < len(registered)
                where = f" consuming the queue '{queue}'" if narrowed else ""
                hint = " (start workers with --include planner.tasks)" if task.startswith("planner.") else ""
                raise PlannerError(f"no live worker{where} has the task '{task}' registered{hint}")
            if lacking:
                warnings.append(f"task '{task}' is not registered on {', '.join(lacking)}, which consume"
                                f"{'s' * (len(lacking) == 1)} the queue '{queue}'")
    return warnings


def check_worker_settings(app, workers: list[str], strategy: str, timeout: float = PING_TIMEOUT) -> list[str]:
    """Warnings (one line per risk, naming the workers it concerns) when
    the live workers' settings could lose a node of this run; none when the
    workers would not say (asked once, within ``timeout``)."""
    from .journal import journal_for
    from .worker_settings import risks

    try:
        inspector = app.control.inspect(destination=workers or None, timeout=timeout, limit=len(workers) or None)
        replies = inspector.conf(with_defaults=False) or {}
    except Exception:  # a worker that cannot tell its settings is not worth failing the run for
        return []
    scheme = str(app.conf.broker_url or "").split("://", 1)[0].lower()
    journal = journal_for(app) is not None
    by_risk: dict[str, list[str]] = {}
    for worker, conf in sorted(replies.items()):
        for phrase in risks(conf if isinstance(conf, dict) else {}, strategy, scheme in ("redis", "rediss"), journal):
            by_risk.setdefault(phrase, []).append(worker)
    return [f"worker{'s' * (len(names) > 1)} {', '.join(names)}: {phrase} (planner.worker_settings() has "
            "the settings that make Celery re-deliver it; README: Workers)" for phrase, names in by_risk.items()]


def _first_node(tasks) -> str:
    for task, nodes in tasks.items():
        if nodes:
            return f"task '{task}' (node '{nodes[0]}')"
    return f"planner's task '{next(iter(tasks))}'"


def check_registered(app, task_names, workers: list[str], timeout: float = PING_TIMEOUT) -> list[str]:
    """Every task in ``task_names`` is registered on some live worker (a
    warning for each worker lacking one); :func:`check_queues` without
    queues."""
    return check_queues(app, {None: {name: [] for name in task_names}}, workers, timeout)


def preflight(app, task_names, timeout: float = PING_TIMEOUT, needs=None) -> list[str]:
    """All the checks, in order; returns warnings. ``needs`` (queue → {task
    → nodes}) checks per queue; else ``task_names`` are checked anywhere."""
    check_broker(app)
    check_backend(app)
    needs = needs or {None: {name: [] for name in task_names}}
    workers = check_workers(app, [queue for queue in needs if queue])
    return check_queues(app, needs, workers, timeout)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return masked_text(text)


def masked_text(text: str) -> str:
    """Mask anything URL-like with a password inside free text."""
    import re

    return re.sub(r"\b([a-z][a-z0-9+.-]*://)[^\s/@]*@\S+", lambda m: masked(m.group(0)), text)
