"""planner: plan networkx DAGs of Celery tasks into exact Celery canvases.

>>> from planner import load_graph, make_plan, to_canvas, signatures   # doctest: +SKIP
>>> graph = load_graph("examples/etl/graph.py")                        # doctest: +SKIP
>>> canvas, task_ids = to_canvas(make_plan(graph), signatures(graph))  # doctest: +SKIP
>>> run = submit(graph)                       # returns at once   # doctest: +SKIP
>>> attach(run.id).wait(timeout=60).status                          # doctest: +SKIP
'SUCCESS'
"""

import logging

from .errors import PlannerError
from .graphfile import load_graph, structure, validate
from .plan import Chain, Chord, Group, Plan, Task
from .planning import make_plan, signatures
from .worker_settings import apply_worker_settings, worker_settings


def to_canvas(plan, sigs, task_ids=None):
    """See :func:`planner.canvas.to_canvas` (imported lazily: it needs Celery)."""
    from .canvas import to_canvas as emit

    return emit(plan, sigs, task_ids)


def __getattr__(name: str):
    # The run API (planner.api) is loaded on first use: `import planner` stays light.
    if name in ("submit", "attach", "Run"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'planner' has no attribute {name!r}")


__all__ = [
    "Chain", "Chord", "Group", "Plan", "PlannerError", "Run", "Task", "apply_worker_settings",
    "attach", "load_graph", "make_plan", "signatures", "structure", "submit", "to_canvas", "validate",
    "worker_settings",
]
__version__ = "0.1.0"

# A library logs, the application decides where: nothing reaches a terminal unless it configures logging
# (workers do, with Celery's own configuration).
logging.getLogger(__name__).addHandler(logging.NullHandler())
