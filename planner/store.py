"""Reading many keys of a Celery result backend in one round trip, and how
long planner keeps the keys it writes beside the results.

>>> stored_values(app.backend, ["celery-task-meta-1", "celery-task-meta-2"])   # doctest: +SKIP
[b'{"status": "SUCCESS", ...}', None]
"""

from __future__ import annotations


def is_key_value(backend) -> bool:
    """Whether ``backend`` stores results under keys planner can read and
    write beside them (Celery's key-value backends: Redis, the caches)."""
    return all(hasattr(backend, attr) for attr in ("get", "set", "mget", "get_key_for_task", "decode"))


def stored_values(backend, keys: list[str]) -> list:
    """The raw values of ``keys`` (None where missing), in order, in one
    ``mget``: a list from Redis, a mapping from the cache backends."""
    values = backend.mget(keys)
    if isinstance(values, dict):
        values = [values.get(key) for key in keys]
    return values


DAY = 24 * 3600


def kept_for(backend) -> int:
    """Seconds a run's own keys (exact dispatch's state, the journal) live
    in ``backend``: as long as its results (``result_expires``), and at least
    a day, so that a run never outlives its own state within that time.

    >>> class Backend: expires = 7 * DAY
    >>> kept_for(Backend()) // DAY, kept_for(None) // DAY
    (7, 1)
    """
    return max(DAY, int(getattr(backend, "expires", None) or 0))  # Celery keeps it in seconds (or None)
