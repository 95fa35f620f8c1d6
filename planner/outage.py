"""Losing the result backend (or the broker on the same server) mid-run.

The follower reads the result backend every poll. When a read fails with a
connection error, it tries again for up to :data:`OUTAGE_LIMIT` seconds (a
Redis restarting comes back within that), then the run ends with one line
naming what was lost and its masked URL. When the connection comes back,
the run's own record is looked for: a Redis that restarted without
persistence lost the run's state (results, journal, exact dispatch's specs,
queued messages), and waiting for them would be waiting for nothing — the
run ends at once, saying so; ``--resume`` with its report finishes it.
A Redis restarted with persistence (``appendonly yes``) keeps them: the
run goes on — unless what was in flight during the outage was lost (a
result a worker could not store, a message it could not acknowledge): when
nothing starts or finishes for :data:`QUIET_AFTER` seconds after the
connection came back, the run ends with one line too.

>>> guard = OutageGuard(app, record)                    # doctest: +SKIP
>>> guard.failed(ConnectionError("refused"), now)      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib

from .preflight import masked

OUTAGE_LIMIT = 15.0  # seconds a lost connection is retried before the run ends
LOOK_EVERY = 2.0  # seconds between checks that the run's state is still there
QUIET_AFTER = 30.0  # seconds without any progress after an outage before the run ends


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean a connection, not a task, failed."""
    errors: list[type[BaseException]] = [ConnectionError, OSError, TimeoutError]
    with contextlib.suppress(ImportError):
        import redis

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    with contextlib.suppress(ImportError):
        from kombu.exceptions import OperationalError

        errors.append(OperationalError)
    return tuple(errors)


def _server(url: str) -> str:
    rest = str(url).split("://", 1)[-1].split("@", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0]


class OutageGuard:
    """Watches the follower's connection to the result backend of
    ``record``'s run on ``app``."""

    def __init__(self, app, record, limit: float = OUTAGE_LIMIT):
        self.app, self.record, self.limit = app, record, limit
        backend, broker = str(app.conf.result_backend or ""), str(app.conf.broker_url or "")
        self.url = backend
        same = backend.split("://", 1)[0].startswith("redis") and _server(backend) == _server(broker)
        self.what = "the broker and result backend" if same else "the result backend"
        self.keeps_record = getattr(record, "unstored", "unknown") is None
        self.down_since: float | None = None
        self.error: str | None = None
        self.back_at: float | None = None  # when the connection came back, until the run moves again
        self._progress: tuple | None = None
        self._next_look = 0.0

    def failed(self, error: BaseException, now: float) -> str | None:
        """A read failed: None while it is worth retrying, else the line the
        run ends with."""
        if self.down_since is None:
            self.down_since = now
        self.error = " ".join(str(error).split()) or type(error).__name__
        if now - self.down_since < self.limit:
            return None
        return (f"lost the connection to {self.what} at {masked(self.url)} for {now - self.down_since:.0f} s: "
                f"{self.error}")

    def ok(self, now: float, watcher=None) -> str | None:
        """A read succeeded: after an outage (or every few seconds), is the
        run's state still there? The line the run ends with when not."""
        if self.down_since is not None:  # the first good read after an outage
            present = self._record_present()
            if present is None:
                return None  # cannot tell yet: still down for the bound's sake
            self.down_since = None
            if not present:
                return self._lost(watcher)
            if watcher is not None and watcher.journal is not None:
                with contextlib.suppress(Exception):
                    watcher.rewind()  # a journal that lost its last entries is read again
            self.back_at, self._progress = now, watcher.counts() if watcher is not None else None
            return None
        if self.back_at is not None and watcher is not None:
            if watcher.counts()[:2] != self._progress[:2] or watcher.over:
                self.back_at = None  # it moves again
            elif now - self.back_at >= QUIET_AFTER:
                done = watcher.counts()[0]
                return (f"{self.what} at {masked(self.url)} came back after an outage, but nothing started or "
                        f"finished in the {QUIET_AFTER:.0f} s since (what was in flight during the outage was lost): "
                        f"{done} of {len(watcher.nodes)} nodes had finished; planner run GRAPH --resume "
                        "REPORT.json (this run's --json) runs the rest")
        if now < self._next_look:
            return None
        self._next_look = now + LOOK_EVERY
        return self._lost(watcher) if self._record_present() is False else None

    def unsettled(self, now: float) -> bool:
        """Down, or back for less than a liveness key's life: workers' keys
        may have lapsed with the server, so nobody is declared dead now."""
        from .journal import ALIVE_TTL

        return self.down_since is not None or (self.back_at is not None and now - self.back_at < ALIVE_TTL + 2)

    def _record_present(self) -> bool | None:
        """Whether the run's record is in the backend (None: cannot tell)."""
        if not self.keeps_record:
            return True
        from .record import key

        try:
            return self.app.backend.get(key(self.record.run_id)) is not None
        except connection_errors():
            return None

    def _lost(self, watcher) -> str:
        done = sum(node.state != "UNFINISHED" for node in (watcher.nodes.values() if watcher else ()))
        total = len(watcher.nodes) if watcher else 0
        return (f"{self.what} at {masked(self.url)} restarted and lost this run's state (it keeps no data across "
                f"restarts: no appendonly or save): {done} of {total} nodes had finished; "
                "planner run GRAPH --resume REPORT.json (this run's --json) runs the rest")
