"""What workers running planner plans should set, and what a run risks
when they do not.

With Celery's defaults a message is acknowledged when its task starts, so
a worker killed mid-task takes that task with it, and the Redis broker gives
a prefetched message back only after ``visibility_timeout`` (an hour).
planner notices a dead worker by itself (:mod:`planner.recovery`) and sends
its nodes again (a canvas goes on by exact dispatch), as long as the run's
own process follows it. These settings make Celery itself re-deliver:

>>> settings = worker_settings()
>>> settings["task_acks_late"], settings["broker_transport_options"]["visibility_timeout"]
(True, 300)
>>> apply_worker_settings(app)   # doctest: +SKIP
"""

from __future__ import annotations

VISIBILITY_TIMEOUT = 300  # seconds: longer than your longest task, or Redis re-delivers it while it runs


def worker_settings(visibility_timeout: float = VISIBILITY_TIMEOUT) -> dict:
    """The settings that make Celery itself re-deliver the message of a
    task whose worker died: acknowledge after the task (``task_acks_late``),
    re-queue when the pool process dies (``task_reject_on_worker_lost``),
    hold one message ahead per process (``worker_prefetch_multiplier``),
    and on Redis, take unacknowledged messages back after
    ``visibility_timeout`` seconds, looked for every second (kombu's
    ``unacked_restore_interval`` × ``unacked_restore_throttle``).
    ``visibility_timeout`` must exceed your longest task: Redis hands a
    message still running after that long to another worker."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": visibility_timeout, "unacked_restore_interval": 1,
                                     "unacked_restore_throttle": 1},
    }


def apply_worker_settings(app, visibility_timeout: float = VISIBILITY_TIMEOUT):
    """Apply :func:`worker_settings` to ``app`` (keeping its other broker
    transport options); returns ``app``. Call it where the workers' app is
    configured (``shop/celery.py``)."""
    settings = worker_settings(visibility_timeout)
    options = dict(app.conf.broker_transport_options or {})
    options.update(settings.pop("broker_transport_options"))
    app.conf.update(settings, broker_transport_options=options)
    return app


def risks(conf: dict, strategy: str, redis_broker: bool, journal: bool) -> list[str]:
    """What a run could lose on a worker with settings ``conf`` (as
    ``inspect().conf()`` reports them), one phrase each.

    >>> risks({"task_acks_late": False}, "canvas", True, True)[0][:60]
    'task_acks_late is off: if it dies mid-task, the canvas loses'

    >>> risks({"task_acks_late": False}, "exact", True, True)
    []
    """
    acks_late = bool(conf.get("task_acks_late"))
    phrases = []
    if not journal:
        if not acks_late:
            phrases.append("task_acks_late is off and the result backend keeps no run journal (not Redis): "
                           "a node it is running when it dies is lost, and the run stalls")
        elif redis_broker and float((conf.get("broker_transport_options") or {}).get("visibility_timeout")
                                    or 3600) > 600:
            phrases.append("the Redis broker's visibility_timeout is over 10 minutes and the result backend "
                           "keeps no run journal: a node it holds when it dies comes back only after that long")
    elif strategy != "exact" and not acks_late:
        phrases.append("task_acks_late is off: if it dies mid-task, the canvas loses that node unless the run's own "
                       "process follows it (planner run does: it sends the rest again by exact dispatch)")
    return phrases
