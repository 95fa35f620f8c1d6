"""A run's journal: the workers append one compact event per node message
(received, started, done) to a per-run list in the result backend, and
whoever follows the run reads only the entries it has not seen yet. Following
then costs O(1) per node, whatever the run's size: no scan of every
unfinished node's key.

Events are short JSON lists (``kind, task id, worker, ...``):

- ``["r", message_id, worker, node_task_id]``: a worker received (prefetched)
  the message; ``node_task_id`` differs from ``message_id`` for a segment of
  exact dispatch, which carries several nodes under one message id;
- ``["s", task_id, worker, try, time]``: the node's task started;
- ``["d", task_id, state, worker]``: it ended (SUCCESS, FAILURE, REVOKED): its
  result is in the backend;
- ``["t", task_id, worker]``: it will be retried.

Backends: Redis (``RPUSH``/``LRANGE`` on ``planner-journal:RUN``, expiring
with the results, after a day at least) and the embedded ``cache+memory://`` store (a list in this
process). Any other backend has no journal: followers scan, as before.

Workers also say they are alive: :func:`beat` refreshes
``planner-alive:HOSTNAME`` (a few seconds' TTL) from a thread in the worker's
main process, so a follower can tell a worker that was SIGKILLed from one
that runs a long task.

>>> journal = MemoryJournal()
>>> journal.append("run1", ["s", "id1", "w1", 1, 0.0])
>>> journal.read("run1", 0)
[['s', 'id1', 'w1', 1, 0.0]]
>>> journal.read("run1", 1)
[]
"""

from __future__ import annotations

import json
import threading
import time

from .store import DAY, kept_for

KEY_PREFIX = "planner-journal"
ALIVE_PREFIX = "planner-alive"
ALIVE_TTL = 4.0  # seconds a worker's liveness key lives without being refreshed
BEAT_EVERY = 1.0  # seconds between refreshes

RECEIVED, STARTED, DONE, RETRY = "r", "s", "d", "t"

FOLLOW_HEADER = "planner_run"  # message header: the id of the run that follows this node
HEAD_HEADER = "planner_head"  # message header of an exact segment: the task id of its first node


def key(run: str) -> str:
    return f"{KEY_PREFIX}:{run}"


def alive_key(worker: str) -> str:
    return f"{ALIVE_PREFIX}:{worker}"


class RedisJournal:
    """The journal in Redis, through the result backend's client."""

    def __init__(self, client, expires: int = DAY):
        self.client, self.expires = client, expires  # seconds a run's journal is kept

    def append(self, run: str, event: list) -> None:
        length = self.client.rpush(key(run), json.dumps(event, separators=(",", ":")))
        if length == 1:  # the first event sets the expiry: one round trip per event after that
            self.client.expire(key(run), self.expires)

    def read(self, run: str, offset: int) -> list:
        return [json.loads(raw) for raw in self.client.lrange(key(run), offset, -1)]

    def length(self, run: str) -> int:
        return int(self.client.llen(key(run)))

    def beat(self, worker: str, ttl: float = ALIVE_TTL) -> None:
        self.client.set(alive_key(worker), f"{time.time():.3f}", px=int(ttl * 1000))

    def alive(self, workers: list[str]) -> dict[str, bool]:
        if not workers:
            return {}
        values = self.client.mget([alive_key(worker) for worker in workers])
        return {worker: value is not None for worker, value in zip(workers, values, strict=True)}

    def discard(self, run: str) -> None:
        pass  # expires on its own; another process may still follow the run


class MemoryJournal:
    """The same in this process, for the embedded worker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: dict[str, list] = {}
        self.beats: dict[str, float] = {}

    def append(self, run: str, event: list) -> None:
        with self.lock:
            self.runs.setdefault(run, []).append(event)

    def read(self, run: str, offset: int) -> list:
        with self.lock:
            return list(self.runs.get(run, ())[offset:])

    def length(self, run: str) -> int:
        with self.lock:
            return len(self.runs.get(run, ()))

    def beat(self, worker: str, ttl: float = ALIVE_TTL) -> None:
        with self.lock:
            self.beats[worker] = time.monotonic() + ttl

    def alive(self, workers: list[str]) -> dict[str, bool]:
        now = time.monotonic()
        with self.lock:
            return {worker: self.beats.get(worker, 0.0) > now for worker in workers}

    def discard(self, run: str) -> None:
        with self.lock:
            self.runs.pop(run, None)


MEMORY = MemoryJournal()


def journal_for(app, backend=None):
    """The journal of ``app``'s result backend, or ``None`` when the backend
    cannot hold one (then followers scan every unfinished node)."""
    url = str(app.conf.result_backend or "")
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss", "sentinel", "sentinels"):
        backend = backend or app.backend
        client = getattr(backend, "client", None)
        return None if client is None else RedisJournal(client, kept_for(backend))
    if scheme.startswith("cache") and "memory" in url:
        return MEMORY
    return None
