"""Sending a plan: one canvas, or the exact dispatcher's roots; starting a
run (ids, its record in the result backend, sending); and stopping what has
not run yet.

>>> record = start(plan, signatures, app)                   # doctest: +SKIP
>>> exact_run = submit(plan, signatures, app, task_ids)   # doctest: +SKIP
>>> cancel(app, nodes, exact_run)                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
from typing import Mapping

from .outcome import UNFINISHED
from .plan import Plan
from .record import RunRecord


def start(plan: Plan, signatures: Mapping, app, *, queues: Mapping[str, str | None] | None = None,
          parameters: dict | None = None, where: str = "", warnings: list[str] | None = None,
          embedded: bool = False, done: Mapping[str, object] | None = None) -> RunRecord:
    """Start a run of ``plan`` on ``app`` (pointed at a broker whose
    workers are checked): a run id, a task id per node, every message
    tagged with the run (workers record start times), the plan sent, and
    the run's record stored in the result backend (``record.unstored``
    says why not, when the backend cannot keep it). Returns at once.
    Nodes in ``done`` (name → result; exact plans only) are not run: their
    results are stored under their task ids and feed their successors."""
    from celery import uuid

    from . import record as records
    from .resume import FINGERPRINT, fingerprints
    from .tasks import RUN_HEADER

    for name, value in fingerprints(plan.graph, signatures).items():  # kept in the record: reports made anywhere
        plan.graph.nodes[name][FINGERPRINT] = value
    run_id = uuid()
    task_ids = {name: uuid() for name in plan.graph}
    sent = {name: tagged(signatures[name], RUN_HEADER, run_id) for name in plan.graph}
    submitted = time.time()
    for name, result in (done or {}).items():
        app.backend.store_result(task_ids[name], result, "SUCCESS")
    exact_run = submit(plan, sent, app, task_ids, done)
    record = RunRecord(run_id, task_ids, plan, submitted, dict(queues or {}), dict(parameters or {}), exact_run,
                       where, list(warnings or []), embedded, reused=list(done or ()))
    try:
        record.unstored = records.store(app, record)
    except Exception as error:  # the run is out: it goes on, it just cannot be followed elsewhere
        record.unstored = f"its record could not be stored ({type(error).__name__}: {error})"
    record.signatures = sent  # a canvas that loses a worker goes on by exact dispatch with them
    return record


def submit(plan: Plan, signatures: Mapping, app, task_ids: Mapping[str, str],
           done: Mapping[str, object] | None = None) -> str | None:
    """Send the plan: one canvas, or the exact dispatcher's roots (then
    return the exact run's id); ``done`` nodes are not sent (exact only)."""
    if plan.strategy == "exact":
        from . import exact

        return exact.submit(plan, signatures, app, task_ids, done)
    from .canvas import to_canvas

    canvas, _ = to_canvas(plan, signatures, task_ids)
    canvas.apply_async()
    return None


def tagged(sig, header: str, run_id: str):
    """A clone of ``sig`` whose messages carry the run's header (so workers
    record the node's start time)."""
    clone = sig.clone()
    headers = dict(clone.options.get("headers") or {})
    headers[header] = run_id
    clone.set(headers=headers)
    return clone


def cancel(app, nodes: Mapping, exact_run: str | None) -> None:
    """Stop what has not run: revoke the unfinished nodes' task ids (workers
    drop those messages, even ones sent later) and, for an exact run, stop
    its dispatch (nodes a segment message would run inline have no message
    of their own to revoke). An unfinished map node's items are revoked too."""
    if exact_run is not None:
        from . import exact

        with contextlib.suppress(Exception):
            exact.cancel(app, exact_run)
    pending = [node.task_id for node in nodes.values() if node.state == UNFINISHED]
    pending += _unfinished_items(app, nodes)
    if pending and not str(app.conf.broker_url).startswith("memory"):
        with contextlib.suppress(Exception):
            app.control.revoke(pending)



def _unfinished_items(app, nodes: Mapping) -> list[str]:
    """The item task ids of the unfinished map nodes whose items are known."""
    from .mapping import item_task_id, read_records

    mapped = [node for node in nodes.values() if getattr(node, "mapped", False) and node.state == UNFINISHED]
    if not mapped:
        return []
    try:
        counts = read_records(app.backend, [node.task_id for node in mapped])
    except Exception:  # cancelling goes on without them: the items run, nothing follows them
        return []
    return [item_task_id(node.task_id, k) for node, count in zip(mapped, counts, strict=True)
            for k in range(count or 0)]
