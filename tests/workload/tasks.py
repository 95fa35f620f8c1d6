"""Tasks that record what they received and when, so tests can check the
graph contract on real workers.

A ``step`` returns ``{"node", "got", "start", "end", "pid"}`` where ``got`` names
its input: ``None`` (nothing), one upstream node's name, or the list of
names, so results stay small however deep the graph.
"""

import os
import time

from celery import Celery

app = Celery("workload")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_extended=True,
    broker_connection_retry_on_startup=True,
)


def _name_of(value):
    if isinstance(value, dict) and "node" in value:
        return value["node"]
    if isinstance(value, list):
        return [_name_of(v) for v in value]
    return value


@app.task
def step(*upstream, node, sleep=0.0):
    start = time.time()
    if sleep:
        time.sleep(sleep)
    got = _name_of(upstream[0]) if upstream else None
    return {"node": node, "got": got, "start": start, "end": time.time(), "pid": os.getpid()}


@app.task
def boom(*upstream, node):
    raise ValueError(f"{node} failed on purpose")


@app.task
def add(x, y):
    return x + y


@app.task
def multiply(value, factor):
    return value * factor


def _tally(tally, node):
    """Count one execution of ``node``: a Redis list (``redis://...``) or a
    file with one line per execution."""
    if not tally:
        return
    if tally.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(tally)
        client.rpush("tally", node)
        client.close()
    else:
        with open(tally, "a") as handle:
            handle.write(f"{node}\n")


@app.task
def counted(*upstream, node, sleep=0.0, tally=None):
    """Like ``step``, and records each execution in ``tally``."""
    _tally(tally, node)
    return step.run(*upstream, node=node, sleep=sleep)


def _bump(counter: str) -> int:
    """Increment a counter: a Redis URL (key ``counter``) or a file path."""
    if counter.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(counter)
        try:
            return client.incr("counter")
        finally:
            client.close()
    try:
        with open(counter) as handle:
            value = int(handle.read() or 0) + 1
    except FileNotFoundError:
        value = 1
    with open(counter, "w") as handle:
        handle.write(str(value))
    return value


@app.task(autoretry_for=(ConnectionError,), retry_backoff=False, max_retries=4, default_retry_delay=0.05)
def flaky(*upstream, node, counter, failures=2):
    """Fails ``failures`` times (retried by Celery), then succeeds."""
    attempt = _bump(counter)
    if attempt <= failures:
        raise ConnectionError(f"{node}: attempt {attempt} fails on purpose")
    return {**step.run(*upstream, node=node), "attempt": attempt}


@app.task
def recorded(*upstream, node, sink, key):
    """Like ``step``, and records each execution in Redis at ``sink``: the
    node's name pushed on the list ``key``, its record in the hash
    ``key:records`` (for runs whose task ids the checker does not know)."""
    import json

    import redis

    record = step.run(*upstream, node=node)
    client = redis.Redis.from_url(sink)
    try:
        with client.pipeline() as pipe:
            pipe.rpush(key, node)
            pipe.hset(f"{key}:records", node, json.dumps(record))
            pipe.expire(key, 3600)
            pipe.expire(f"{key}:records", 3600)
            pipe.execute()
    finally:
        client.close()
    return record


@app.task
def numbers(count):
    """``[0, 1, ..., count - 1]``: the list a map node maps over."""
    return list(range(count))


@app.task
def square(value, fail_on=None):
    """One item of a map node; fails on purpose for ``fail_on``."""
    if value == fail_on:
        raise ValueError(f"item {value} failed on purpose")
    return value * value


@app.task
def echo(value):
    """Returns its input, to show what a node received."""
    return value


@app.task(bind=True)
def dmap(self, items, task):
    """The hand-written Celery "dmap" (celery#817): run the signature
    ``task`` once per item, in a group, and collect the results in a chord
    (``replace`` makes the group a chord with ``celery.accumulate``)."""
    from celery import group, signature

    if not items:
        return []
    item = signature(task, app=self.app)
    return self.replace(group(item.clone((value,)) for value in items))
