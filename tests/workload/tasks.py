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
