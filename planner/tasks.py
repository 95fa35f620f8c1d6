"""Helper tasks that plans may need on the workers.

Workers get them with ``celery -A APP worker --include planner.tasks``.
"""

from __future__ import annotations

import json
import time

from celery import shared_task, states
from celery.signals import task_prerun


class InputNotReady(RuntimeError):
    """A predecessor's result was not in the result store when gathered."""


@shared_task(name="planner.gather", bind=True)
def gather(self, task_ids: list[str], single: bool = False):
    """Fetch the results of finished tasks from the result store: the one
    result when ``single``, else the list in the order given.

    Used where the canvas cannot hand a node exactly its predecessors'
    results (transitive edges, graphs that are not series-parallel); the plan
    orders this step after every one of those predecessors.
    """
    results = []
    for task_id in task_ids:
        meta = _finished_meta(self.backend, task_id)
        if meta.get("status") != states.SUCCESS:
            raise InputNotReady(f"input task {task_id} is {meta.get('status')}, not SUCCESS")
        results.append(meta.get("result"))
    return results[0] if single else results


# Celery sends a task's chain successor *before* it stores the task's result
# (trace.py: "callback tasks must be applied before the result is stored"),
# so a gather step can start a few milliseconds before its input is visible.
INPUT_WAIT = 10.0


def _finished_meta(backend, task_id: str, wait: float = INPUT_WAIT) -> dict:
    """The task's meta once it is in a ready state (or after ``wait`` s)."""
    deadline = time.monotonic() + wait
    pause = 0.002
    while True:
        meta = backend.get_task_meta(task_id)
        if meta.get("status") in states.READY_STATES or time.monotonic() >= deadline:
            return meta
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


RUN_HEADER = "planner_run"
STARTED_SUFFIX = ":planner-started"  # appended to the task's result key


@shared_task(name="planner.noop", ignore_result=True)
def noop():
    """Does nothing; sent to wake the embedded worker's consumer so it
    notices it must stop."""


@task_prerun.connect(weak=False)
def _record_start(sender=None, task_id=None, task=None, **_):
    """Store when and where a node of a ``planner run`` started (the result
    store keeps only when it finished). Only tasks sent by ``planner run``
    carry the header, so other work on the same workers costs nothing."""
    if task is None or not getattr(task.request, RUN_HEADER, None):
        return
    record_start(task.backend, task_id, task.request.hostname, 1 + (task.request.retries or 0))


def record_start(backend, task_id: str, worker: str | None, attempt: int) -> None:
    """Store the start record of node ``task_id`` (see :func:`_record_start`)."""
    if not (hasattr(backend, "set") and hasattr(backend, "get_key_for_task")):
        return  # not a key-value store: the runner does without start times
    record = {"started": time.time(), "worker": worker, "try": attempt}
    try:
        backend.set(backend.get_key_for_task(task_id, key=STARTED_SUFFIX), json.dumps(record))
    except Exception:  # a start time is nice to have, never worth failing a task
        pass


@shared_task(name="planner.map", bind=True)
def map_items(self, items, task: dict, node: str = ""):
    """A map node in a canvas (Celery's "dmap" pattern): run the signature
    ``task`` once per item of ``items``, each item as its first argument, in
    a group; this task is replaced by that group and a step that collects
    the list of results in item order (Celery makes the pair a chord). Item
    ``k`` gets the task id :func:`planner.mapping.item_task_id` derives from
    this task's id. An empty list returns ``[]`` at once.

    >>> chain(numbers.s(), map_items.s(dict(square.s()), "square"))   # doctest: +SKIP
    """
    from celery import group, signature

    from .mapping import check_items, item_task_id, write_record

    items = check_items(node, items)
    write_record(self.backend, self.request.id, len(items))
    if not items:
        return []
    item = signature(task, app=self.app)
    return self.replace(group(item.clone((value,), task_id=item_task_id(self.request.id, position))
                              for position, value in enumerate(items)))


# The exact-dispatch helpers register themselves on import, so workers
# started with ``--include planner.tasks`` have them too.
from . import exact as _exact  # noqa: E402,F401
