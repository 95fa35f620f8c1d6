"""The Celery app a run uses, and where it points: the one app the graph's
tasks belong to, the settings a run borrows from it (JSON only), and the
broker and result backend of a cluster run.

>>> cluster_urls(app, "redis://localhost:6379/0", None)   # doctest: +SKIP
('redis://localhost:6379/0', 'redis://localhost:6379/0')
"""

from __future__ import annotations

import contextlib
from typing import Mapping

from .errors import PlannerError
from .preflight import masked


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


def app_reference(app, fallback: str) -> str:
    """What ``celery -A`` needs to find ``app`` itself: a user module
    holding it as ``app`` or ``celery`` (``shop.celery``, found as Celery
    finds it), else ``module:attribute``, the shortest module name first;
    ``fallback`` when no module holds it."""
    import sys

    from .graphfile import user_file

    found = []
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith("_planner_graph_") or name == "__main__":
            continue
        holding = [attribute for attribute, value in list(vars(module).items())
                   if value is app and attribute.isidentifier()]
        filename = getattr(module, "__file__", None)
        if not holding or not isinstance(filename, str) or not user_file(filename):
            continue
        found += [(attribute not in ("app", "celery"), name.count("."), len(name), name, attribute)
                  for attribute in holding]
    if not found:
        return fallback
    from celery.app.utils import find_app

    for package in sorted({name.partition(".")[0] for *_, name, _ in found}):
        with contextlib.suppress(Exception):
            if find_app(package) is app:  # what users type: celery -A shop
                return package
    plain, _, _, module, attribute = min(found)
    return f"{module}:{attribute}" if plain else module

