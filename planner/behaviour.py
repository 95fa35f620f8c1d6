"""What a node will do beyond calling its task: the queue it is routed to,
its time limits and its retry policy, where they differ from Celery's
defaults (the default queue, no time limit, no automatic retry). ``plan``
and ``render`` show them before anything runs.

>>> node_behaviour(charge.s(7))                                  # doctest: +SKIP
{'queue': 'billing', 'time_limit': 30, 'retry': {'on': ['ConnectionError'], 'max_retries': 3, 'delay': 180}}
>>> behaviour_text({"queue": "billing", "time_limit": 30, "soft_time_limit": 20})
'queue billing, time limit 30 s (soft 20 s)'
"""

from __future__ import annotations

CELERY_MAX_RETRIES = 3  # Task.max_retries


def node_behaviours(signatures) -> dict:
    """Node name → :func:`node_behaviour` for ``signatures`` (name →
    signature), the non-default ones only. Nodes of one task with the same
    options behave alike unless a router function looks at arguments: they
    are resolved once."""
    from celery.app.routes import MapRoute

    found: dict = {}
    static: dict = {}  # task name -> whether its routing depends only on the task and options
    known: dict = {}
    for name, sig in signatures.items():
        if sig.task not in static:
            app = getattr(_task(sig), "app", None)
            static[sig.task] = app is not None and all(isinstance(r, MapRoute) for r in app.amqp.router.routes)
        key = (sig.task, repr(sorted(sig.options.items()))) if static[sig.task] else None
        if key is None or key not in known:
            behaviour = node_behaviour(sig)
            if key is not None:
                known[key] = behaviour
        else:
            behaviour = known[key]
        if behaviour:
            found[name] = behaviour
    return found


def node_behaviour(sig) -> dict:
    """The non-default parts of what ``sig``'s message will do; ``{}`` for
    a plain task on the default queue."""
    task = _task(sig)
    if task is None:
        return {}
    app = task.app
    out: dict = {}
    try:
        from .routing import default_queue, node_queue

        queue = node_queue(app, sig)
        if queue is not None and queue != default_queue(app):
            out["queue"] = queue
    except Exception:  # a router that fails here fails at send time too, with Celery's own message
        pass
    for limit, setting in (("time_limit", "task_time_limit"), ("soft_time_limit", "task_soft_time_limit")):
        value = _first(sig.options.get(limit), getattr(task, limit, None), app.conf.get(setting))
        if value is not None:
            out[limit] = value
    retry = retry_policy(task)
    if retry:
        out["retry"] = retry
    return out


def _task(sig):
    try:
        return sig.type
    except (KeyError, AttributeError):
        return None


def _first(*values):
    return next((value for value in values if value is not None), None)


def retry_policy(task) -> dict:
    """The task's automatic retries (``autoretry_for``): on which errors,
    how many times, how far apart; or just ``max_retries`` when it is not
    Celery's default (the task retries itself with ``self.retry``)."""
    errors = tuple(getattr(task, "autoretry_for", ()) or ())
    max_retries = getattr(task, "max_retries", CELERY_MAX_RETRIES)
    if not errors:
        return {} if max_retries == CELERY_MAX_RETRIES else {"max_retries": max_retries}
    policy: dict = {"on": [getattr(error, "__name__", str(error)) for error in errors], "max_retries": max_retries}
    backoff = getattr(task, "retry_backoff", False)
    if backoff:
        policy["backoff"] = backoff if not isinstance(backoff, bool) else 1
        policy["backoff_max"] = getattr(task, "retry_backoff_max", 600)
        policy["jitter"] = bool(getattr(task, "retry_jitter", True))
    else:
        policy["delay"] = (getattr(task, "retry_kwargs", None) or {}).get("countdown",
                                                                          getattr(task, "default_retry_delay", 180))
    return policy


def behaviour_text(behaviour: dict) -> str:
    """One short phrase: ``queue billing, time limit 30 s (soft 20 s),
    retries: up to 3 on ConnectionError, 180 s apart``."""
    return ", ".join(behaviour_parts(behaviour))


def behaviour_parts(behaviour: dict) -> list[str]:
    """The phrase's parts: queue, time limits, retries (one line each in a diagram)."""
    parts = []
    if "queue" in behaviour:
        parts.append(f"queue {behaviour['queue']}")
    hard, soft = behaviour.get("time_limit"), behaviour.get("soft_time_limit")
    if hard is not None:
        parts.append(f"time limit {hard:g} s" + (f" (soft {soft:g} s)" if soft is not None else ""))
    elif soft is not None:
        parts.append(f"soft time limit {soft:g} s")
    retry = behaviour.get("retry")
    if retry:
        if "on" not in retry:
            parts.append(f"max_retries {_count(retry['max_retries'])}")
        else:
            spacing = (f"backoff from {retry['backoff']:g} s" if "backoff" in retry
                       else f"{retry['delay']:g} s apart")
            parts.append(f"retries: up to {_count(retry['max_retries'])} on {', '.join(retry['on'])}, {spacing}")
    return parts


def _count(value) -> str:
    return "unlimited" if value is None else str(value)
