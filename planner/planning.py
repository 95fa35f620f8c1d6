"""From a user's graph to a plan: the one entry point the CLI and the
runner call, and the choice of how the plan runs.

Strategies:

- ``canvas``: one pure chain/group/chord canvas (:func:`plan_canvas`). On a
  graph that is not series-parallel it must add ordering the graph does not
  have; each added dependency is in ``plan.added`` and what it costs (how
  much it raises the critical path) in the reason and
  ``plan.metadata["added_cost"]``.
- ``exact``: :mod:`planner.exact` sends every node as soon as its own
  predecessors finished: ``plan.added == ()``, always. ``plan.root`` is still
  the canvas decomposition, for display (its forced ordering, which exact
  dispatch does not impose, is kept in ``plan.metadata["canvas_added"]``).
- ``auto`` (default): the canvas when it is exact and has no long chain,
  wide chord or deep nesting; otherwise ``exact``, which then is faster
  (Celery's messages carry the rest of their chain and chord bodies, so long
  chains and deeply nested chords cost quadratic time; a wide chord pays the
  header's join). ``plan.reason`` says which.

>>> plan = make_plan(load_graph("examples/n_shape/graph.py"))   # doctest: +SKIP
>>> plan.strategy, plan.added                                   # doctest: +SKIP
('exact', ())
"""

from __future__ import annotations

import networkx as nx

from .analysis import plan_canvas
from .describe import critical_path
from .graphfile import structure
from .plan import Chain, Chord, Group, Plan, children, walk

STRATEGIES = ("auto", "canvas", "exact")

# A canvas chain at least this long runs faster under exact dispatch (bench/bench_exact.py:
# native chain 100 steps 0.29 s, exact about half of that; the gap grows quadratically).
LONG_CHAIN = 100
# A chord whose header is at least this wide runs faster under exact dispatch (bench/bench_exact.py).
WIDE_CHORD = 1000
# Nested canvases pay the long chain's cost without a long chain: every message carries the rest
# of its chain and, in a chord header, the chord's body. At this many signatures carried in all
# (what a LONG_CHAIN-step chain carries) exact dispatch is faster: 80 nested diamonds of width 3
# (321 nodes) ran in 3.5 s as a canvas and 0.9 s exact on the embedded worker.
CARRIED_SIGNATURES = LONG_CHAIN * (LONG_CHAIN - 1) // 2


def make_plan(graph: nx.DiGraph, strategy: str = "auto") -> Plan:
    """Plan a validated user graph (nodes carry Celery signatures) with
    ``strategy`` (``auto``, ``canvas`` or ``exact``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return plan_structure(structure(graph), strategy)


def plan_structure(graph: nx.DiGraph, strategy: str = "auto") -> Plan:
    """:func:`make_plan` on a structure graph (``str`` nodes, attributes
    ``immutable`` and ``cost``)."""
    canvas = plan_canvas(graph)
    shape = canvas_shape(canvas)
    canvas.metadata.update(shape)
    if canvas.added:
        cost = added_cost(canvas)
        canvas.metadata["added_cost"] = cost
        dependencies = f"{len(canvas.added)} added {'dependency' if len(canvas.added) == 1 else 'dependencies'}"
        added_text = f"{dependencies}, critical path +{cost:g} s"
    if strategy == "canvas":
        if canvas.added:
            canvas.reason = f"pure canvas, as asked: the graph is not series-parallel ({added_text})"
        else:
            canvas.reason = "pure canvas, as asked (exact: the graph is series-parallel)"
        return canvas
    if strategy == "exact":
        return _exact(canvas, "exact dispatch, as asked: every node starts when its own predecessors finish")
    if canvas.added:
        return _exact(canvas, f"the graph is not series-parallel: a canvas would need {added_text}; "
                              "exact dispatch adds none")
    if shape["longest_chain"] >= LONG_CHAIN:
        return _exact(canvas, f"a {shape['longest_chain']}-step chain: Celery's chain message carries the rest "
                              "of the chain (quadratic time); exact dispatch runs linear segments in constant-size "
                              "messages")
    if shape["widest_chord"] >= WIDE_CHORD:
        return _exact(canvas, f"a chord over {shape['widest_chord']} tasks: exact dispatch counts arrivals "
                              "without the chord's join")
    if shape["carried"] >= CARRIED_SIGNATURES:
        return _exact(canvas, f"a deeply nested canvas: its messages would carry {shape['carried']} signatures in "
                              "all (each carries the rest of its chain and chord bodies); exact dispatch sends "
                              "constant-size messages")
    canvas.reason = "pure canvas: the graph is series-parallel, so the canvas adds no dependency"
    return canvas


def _exact(canvas: Plan, reason: str) -> Plan:
    metadata = dict(canvas.metadata)
    metadata["canvas_added"] = list(canvas.added)
    return Plan(graph=canvas.graph, root=canvas.root, added=(), strategy="exact", reason=reason, metadata=metadata)


def canvas_shape(plan: Plan) -> dict:
    """The longest chain (steps), the widest chord header (tasks) and the
    signatures its messages carry (:func:`carried_signatures`) of the plan's
    canvas: what makes Celery's canvas slow."""
    longest, widest = 0, 0
    for step in walk(plan.root):
        if isinstance(step, Chain):
            longest = max(longest, len(step.steps))
        elif isinstance(step, Chord):
            widest = max(widest, len(step.header.members))
    return {"longest_chain": longest, "widest_chord": widest, "carried": carried_signatures(plan.root)}


def carried_signatures(root) -> int:
    """How many signatures the canvas's task messages carry in all: each
    task's message holds the rest of its chain and, in a chord header, the
    chord's body (with whatever follows it). Quadratic in a chain's length.

    >>> from planner.plan import Task
    >>> carried_signatures(Chain((Task("a"), Task("b"), Task("c"))))
    3
    >>> carried_signatures(Chord(Group((Task("a"), Task("b"))), Task("c")))
    2
    """
    size: dict[int, int] = {}  # id(step) -> tasks in it
    for step in reversed(list(walk(root))):  # children before parents
        parts = children(step)
        size[id(step)] = sum(size[id(part)] for part in parts) if parts else 1
    total = 0
    stack = [(root, 0)]  # (step, signatures that follow it in its messages)
    while stack:
        step, following = stack.pop()
        if isinstance(step, Chain):
            for part in reversed(step.steps):
                stack.append((part, following))
                following += size[id(part)]
        elif isinstance(step, Chord):
            stack.append((step.header, following + size[id(step.body)]))
            stack.append((step.body, following))
        elif isinstance(step, Group):
            stack.extend((member, following) for member in step.members)
        else:
            total += following
    return total


def added_cost(plan: Plan) -> float:
    """How much the plan's added dependencies raise the critical path
    (seconds, by node ``cost``)."""
    ordered = plan.graph.copy()
    ordered.add_edges_from(plan.added)
    return round(critical_path(ordered)[1] - critical_path(plan.graph)[1], 9)


def signatures(graph: nx.DiGraph) -> dict:
    """Node name → the node's Celery signature."""
    return {str(node): attrs["task"] for node, attrs in graph.nodes(data=True)}
