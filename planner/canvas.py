"""Emission: a plan tree becomes a real Celery canvas of the user's own
signatures, every node's task id assigned up front so it can be tracked by
name.

>>> canvas, ids = to_canvas(plan, signatures)   # doctest: +SKIP
>>> result = canvas.apply_async()               # doctest: +SKIP
>>> app.AsyncResult(ids["multiply"]).get()      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Mapping

from celery import chain, chord, group, uuid
from celery.canvas import Signature

from .plan import Chain, Chord, Group, Plan, Step, Task


def to_canvas(plan: Plan, signatures: Mapping[str, Signature], task_ids: Mapping[str, str] | None = None):
    """Build the canvas for ``plan``. ``signatures`` maps node names to the
    nodes' signatures. Returns ``(canvas, task_ids)`` with ``task_ids``
    mapping every node name to its task id."""
    ids = dict(task_ids or {})
    for name in plan.graph:
        ids.setdefault(name, uuid())
    return _emit(plan.root, signatures, ids), ids


def node_signature(name: str, task: Task, signatures: Mapping[str, Signature], ids: Mapping[str, str]) -> Signature:
    """The node's own signature, cloned, with its task id set; made
    immutable, or preceded by a gather step, as the plan says."""
    sig = signatures[name].clone()
    sig.set(task_id=ids[name])
    if task.gather is None:
        return sig
    if task.gather == ():  # the canvas would hand it an input it must not get
        sig.set(immutable=True)
        return sig
    from .tasks import gather  # the gather step is immutable; its result is the input

    fetch = gather.si([ids[p] for p in task.gather], len(task.gather) == 1)
    return chain(fetch, sig)


def _emit(step: Step, signatures, ids) -> Signature:
    if isinstance(step, Task):
        return node_signature(step.name, step, signatures, ids)
    if isinstance(step, Chain):
        return chain(*(_emit(s, signatures, ids) for s in step.steps))
    if isinstance(step, Group):
        return group(*(_emit(m, signatures, ids) for m in step.members))
    if isinstance(step, Chord):
        return chord(_emit(step.header, signatures, ids), _emit(step.body, signatures, ids))
    raise TypeError(f"not a plan step: {step!r}")
