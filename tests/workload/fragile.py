"""Tasks that survive losing their worker: acknowledged late, rejected back
to the queue when the worker process dies, and redelivered quickly by Redis."""

import os
import time

import redis
from celery import Celery

from .tasks import step

app = Celery("fragile")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_extended=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    # Redis hands an unacknowledged message to another worker after this long.
    broker_transport_options={"visibility_timeout": 3, "unacked_restore_interval": 1, "unacked_restore_throttle": 1},
)


@app.task(acks_late=True, reject_on_worker_lost=True)
def sturdy(*upstream, node, sleep=0.0, tally=None):
    """A step that records every execution (Redis list ``tally``)."""
    if tally:
        client = redis.Redis.from_url(tally)
        client.rpush("tally", node)
        client.close()
    return step.run(*upstream, node=node, sleep=sleep)


@app.task(acks_late=True, reject_on_worker_lost=True)
def victim(*upstream, node, redis_url, sleep=4.0):
    """On its first execution, says which worker runs it (the worker's main
    process id, under key ``victim``) and works long enough to be killed."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.rpush("tally", node)
        first = client.setnx("victim", os.getppid())
    finally:
        client.close()
    if first:
        time.sleep(sleep)
    return step.run(*upstream, node=node)
