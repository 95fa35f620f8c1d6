"""planner: plan networkx DAGs of Celery tasks into exact Celery canvases.

>>> from planner import load_graph, make_plan, to_canvas, signatures   # doctest: +SKIP
>>> graph = load_graph("examples/etl/graph.py")                        # doctest: +SKIP
>>> canvas, task_ids = to_canvas(make_plan(graph), signatures(graph))  # doctest: +SKIP
"""

from .errors import PlannerError
from .graphfile import load_graph, structure, validate
from .plan import Chain, Chord, Group, Plan, Task
from .planning import make_plan, signatures


def to_canvas(plan, sigs, task_ids=None):
    """See :func:`planner.canvas.to_canvas` (imported lazily: it needs Celery)."""
    from .canvas import to_canvas as emit

    return emit(plan, sigs, task_ids)


__all__ = [
    "Chain", "Chord", "Group", "Plan", "PlannerError", "Task",
    "load_graph", "make_plan", "signatures", "structure", "to_canvas", "validate",
]
__version__ = "0.1.0"
