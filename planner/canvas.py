"""Emission: a plan tree becomes a real Celery canvas of the user's own
signatures, every node's task id assigned up front so it can be tracked by
name. The tree is first put in the shapes Celery runs reliably
(:func:`planner.shapes.celery_safe`); the canvas is built without
recursion, so a deep tree is no problem.

>>> canvas, ids = to_canvas(plan, signatures)   # doctest: +SKIP
>>> result = canvas.apply_async()               # doctest: +SKIP
>>> app.AsyncResult(ids["multiply"]).get()      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Mapping

from celery import chord, group, uuid
from celery.canvas import Signature, _chain

from .mapping import map_nodes
from .plan import Chain, Chord, Group, Plan, Step, Task, walk
from .shapes import Collect, celery_safe


def to_canvas(plan: Plan, signatures: Mapping[str, Signature], task_ids: Mapping[str, str] | None = None):
    """Build the canvas for ``plan``. ``signatures`` maps node names to the
    nodes' signatures. Returns ``(canvas, task_ids)`` with ``task_ids``
    mapping every node name to its task id."""
    ids = dict(task_ids or {})
    for name in plan.graph:
        ids.setdefault(name, uuid())
    # Every canvas part gets the tasks' app: left to itself Celery falls back to the *current* app,
    # which in a process with several apps may have no result backend (no chords, then).
    app = next((sig.app for sig in signatures.values()), None)
    mapped = {name: map_signature(name, signatures[name]) for name in map_nodes(plan.graph)}
    return _emit(celery_safe(plan.root), {**signatures, **mapped}, ids, app), ids


def map_signature(name: str, sig: Signature) -> Signature:
    """A map node's signature in a canvas: ``planner.map`` (Celery's "dmap"
    pattern, :func:`planner.tasks.map_items`) carrying the node's own
    signature, which it runs once per item of the list it receives. The
    run's header (what the runner follows) goes on the ``planner.map``
    message only."""
    from .tasks import RUN_HEADER

    item = sig.clone()
    item.options.pop("task_id", None)
    headers = dict(item.options.get("headers") or {})
    if RUN_HEADER in headers:  # the runner follows the node, not its items
        item.options["headers"] = {key: value for key, value in headers.items() if key != RUN_HEADER}
    return Signature("planner.map", kwargs={"task": dict(item), "node": name}, app=sig.app,
                     **({"headers": headers} if headers else {}))


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

    fetch = Signature(gather.name, args=([ids[p] for p in task.gather], len(task.gather) == 1), immutable=True,
                      app=sig.app)
    return _chain([fetch, sig], app=sig.app)


def _emit(root: Step, signatures, ids, app) -> Signature:
    built: dict[int, Signature] = {}
    for step in reversed(list(walk(root))):  # children before parents
        if isinstance(step, Collect):  # Celery's built-in: hands on the list it gets
            built[id(step)] = Signature(step.name, kwargs={"index": 0}, app=app)
        elif isinstance(step, Task):
            built[id(step)] = node_signature(step.name, step, signatures, ids)
        elif isinstance(step, Chain):
            # The chain class itself, not chain(): chain() folds every step after a chord into the
            # chord's body, one clone of the body per step (quadratic, and as deep as the chain is
            # long). Celery splits the steps into chords when the chain runs (prepare_steps).
            built[id(step)] = _chain([built[id(s)] for s in step.steps], app=app)
        elif isinstance(step, Group):
            built[id(step)] = group(*(built[id(m)] for m in step.members), app=app)
        elif isinstance(step, Chord):  # only where planner.shapes writes one on purpose
            built[id(step)] = chord(built[id(step.header)], built[id(step.body)], app=app)
        else:
            raise TypeError(f"not a plan step Celery runs as written: {step!r}")
    return built[id(root)]
