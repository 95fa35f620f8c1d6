"""Helper tasks that plans may need on the workers.

Workers get them with ``celery -A APP worker --include planner.tasks``.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from celery import shared_task, states
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_received,
    task_revoked,
    worker_ready,
    worker_shutdown,
)

from .journal import BEAT_EVERY, DONE, FOLLOW_HEADER, HEAD_HEADER, MEMORY, RECEIVED, RETRY, STARTED, journal_for
from .store import is_key_value

logger = logging.getLogger(__name__)


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


RUN_HEADER = FOLLOW_HEADER  # message header: the id of the ``planner run`` following the node
STARTED_SUFFIX = ":planner-started"  # appended to the task's result key (backends without a journal)
SEGMENT_TASK = "planner.exact.segment"  # carries several nodes: journalled through its nodes


@shared_task(name="planner.noop", ignore_result=True)
def noop():
    """Does nothing; sent to wake the embedded worker's consumer so it
    notices it must stop."""


# --- the run's journal (planner.journal), written by the workers --------------------------------------------
# Only messages sent by ``planner run`` carry the header, so other work on the same workers costs
# nothing. Writing the journal is nice to have, never worth failing a task: errors are swallowed
# (the follower then finds the node by its periodic scan).


def _run_of(request) -> str | None:
    return getattr(request, RUN_HEADER, None) if request is not None else None


def _append(app, backend, run: str, event: list) -> None:
    try:
        store = journal_for(app, backend)
        if store is not None:
            store.append(run, event)
    except Exception:
        logger.debug("planner: could not journal %s", event, exc_info=True)


@task_received.connect(weak=False)
def _on_received(sender=None, request=None, **_):
    """A worker took a node's message (prefetched or to run now): the
    follower knows who holds it, so it can send it again if that worker dies."""
    headers = getattr(request, "request_dict", None) or {}
    run = headers.get(RUN_HEADER)
    if not run:
        return
    task = request.task
    _append(task.app, task.backend, run, [RECEIVED, request.id, request.hostname, headers.get(HEAD_HEADER)])


@task_prerun.connect(weak=False)
def _record_start(sender=None, task_id=None, task=None, **_):
    """Journal when and where a node started (the result store keeps only
    when it finished); a backend without a journal gets a start key."""
    if task is None or task.name == SEGMENT_TASK:
        return
    run = _run_of(task.request)
    if not run:
        return
    backend = task.backend
    now, attempt = time.time(), 1 + (task.request.retries or 0)
    if journal_for(task.app, backend) is not None:
        _append(task.app, backend, run, [STARTED, task_id, task.request.hostname, attempt, now])
        return
    record_start(backend, task_id, task.request.hostname, attempt)


def record_start(backend, task_id: str, worker: str | None, attempt: int) -> None:
    """Store the start record of node ``task_id`` (see :func:`_record_start`):
    for backends without a journal, and map nodes, which have no message of
    their own (the follower's periodic scan reads it)."""
    if not is_key_value(backend):
        return  # not a key-value store: the runner does without start times
    record = {"started": time.time(), "worker": worker, "try": attempt}
    try:
        backend.set(backend.get_key_for_task(task_id, key=STARTED_SUFFIX), json.dumps(record))
    except Exception:
        pass


@shared_task(name="planner.map", bind=True)
def map_items(self, items, task: dict, node: str = ""):
    """A map node in a canvas (Celery's "dmap" pattern): run the signature
    ``task`` once per item of ``items``, each item as its first argument, in
    a group; this task is replaced by a chord of that group and
    ``planner.map.collect``, which hands on the list of results in item
    order under this task's id (and tells the run's follower it ended). Item
    ``k`` gets the task id :func:`planner.mapping.item_task_id` derives from
    this task's id. An empty list returns ``[]`` at once.

    >>> chain(numbers.s(), map_items.s(dict(square.s()), "square"))   # doctest: +SKIP
    """
    from celery import chord, group, signature

    from .mapping import check_items, item_task_id, write_record

    items = check_items(node, items)
    write_record(self.backend, self.request.id, len(items))
    if not items:
        return []
    item = signature(task, app=self.app)
    collect = collected.s()
    follow = getattr(self.request, RUN_HEADER, None)
    if follow:  # the collecting step ends the node: its journal entry tells the follower
        collect.set(headers={RUN_HEADER: follow})
    return self.replace(chord(group(item.clone((value,), task_id=item_task_id(self.request.id, position))
                                    for position, value in enumerate(items)), collect))


@shared_task(name="planner.map.collect")
def collected(results: list) -> list:
    """A canvas map node's item results, in item order: the body of the
    chord :func:`map_items` replaces itself with (its task id is the node's)."""
    return results


@task_postrun.connect(weak=False)
def _record_end(sender=None, task_id=None, task=None, state=None, **_):
    """Journal that a node ended (its result is stored by now) or will be
    retried."""
    if task is None or task.name == SEGMENT_TASK:
        return
    run = _run_of(task.request)
    if run:
        kind = RETRY if state == states.RETRY else DONE
        _append(task.app, task.backend, run, [kind, task_id, state, task.request.hostname])


@task_failure.connect(weak=False)
def _record_failure(sender=None, task_id=None, **_):
    """A failure the worker's main process records (the pool process died
    or a hard time limit): no postrun signal comes for those."""
    run = _run_of(getattr(sender, "request", None))
    if run and sender.name != SEGMENT_TASK:
        _append(sender.app, sender.backend, run, [DONE, task_id, states.FAILURE, sender.request.hostname])


@task_revoked.connect(weak=False)
def _record_revoked(sender=None, request=None, **_):
    run = _run_of(request)
    if run:
        _append(sender.app, sender.backend, run, [DONE, request.id, states.REVOKED, request.hostname])


# --- liveness: a thread in the worker's main process refreshes a short-lived key ---------------------------

_beating = threading.Event()


@worker_ready.connect(weak=False)
def _start_beating(sender=None, **_):
    """From the worker's main process (the one that holds the prefetched
    messages and whose death loses them): refresh ``planner-alive:HOSTNAME``
    every second, so a follower tells a killed worker from a busy one."""
    app, hostname = getattr(sender, "app", None), getattr(sender, "hostname", None)
    if app is None or not hostname:
        return
    store = journal_for(app)
    if store is None or store is MEMORY:
        return  # the embedded worker lives and dies with its follower
    _beating.set()

    def beat():
        while _beating.is_set():
            try:
                store.beat(hostname)
            except Exception:  # the backend is down for a moment: the key lapses, followers wait for it
                pass
            time.sleep(BEAT_EVERY)

    threading.Thread(target=beat, name="planner-liveness", daemon=True).start()


@worker_shutdown.connect(weak=False)
def _stop_beating(**_):
    _beating.clear()


# The exact-dispatch helpers register themselves on import, so workers
# started with ``--include planner.tasks`` have them too.
from . import exact as _exact  # noqa: E402,F401
