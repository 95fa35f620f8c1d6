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
- ``auto`` (default): the canvas when it is exact and has no map node,
  long chain, wide chord or deep nesting; otherwise ``exact``, which then is faster
  (Celery's messages carry the rest of their chain and chord bodies, so long
  chains and deeply nested chords cost quadratic time; a wide chord pays the
  header's join). ``plan.reason`` says which.

A map node (``map=True``) runs under both: exact dispatch fans out its
items itself (:mod:`planner.exact`); a canvas sends it as ``planner.map``
(:func:`planner.tasks.map_items`, Celery's "dmap" pattern).

>>> plan = make_plan(load_graph("examples/n_shape/graph.py"))   # doctest: +SKIP
>>> plan.strategy, plan.added                                   # doctest: +SKIP
('exact', ())
"""

from __future__ import annotations

import json
from typing import Mapping

import networkx as nx

from .analysis import plan_canvas
from .describe import critical_path
from .errors import PlannerError
from .graphfile import structure
from .mapping import map_nodes
from .plan import Chain, Chord, Group, Plan, children, leaves, walk
from .shapes import celery_safe

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
# No canvas message may be larger: brokers and workers choke on them (RabbitMQ's frame and Redis's
# memory), and building one costs seconds. Past it `auto` runs exact and `canvas` is an error.
MESSAGE_BOUND = 1024 * 1024
# What Celery adds to a message and to each signature it carries (ids, options, headers), and the size
# of a gather step, measured on Celery 5.7 (tests/test_message_size.py checks the estimate against
# the bytes Celery publishes).
MESSAGE_OVERHEAD = 800
SIGNATURE_OVERHEAD = 200  # planner run adds its run header to each
GROUP_OVERHEAD = 600  # a group, and the chord Celery wraps around a group followed by more work
GATHER_BYTES = 250
DEFAULT_SIGNATURE_BYTES = 150


def make_plan(graph: nx.DiGraph, strategy: str = "auto") -> Plan:
    """Plan a validated user graph (nodes carry Celery signatures) with
    ``strategy`` (``auto``, ``canvas`` or ``exact``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return plan_structure(structure(graph), strategy, lambda: {
        str(node): signature_bytes(attrs["task"]) for node, attrs in graph.nodes(data=True)})


def plan_structure(graph: nx.DiGraph, strategy: str = "auto", sizes=None) -> Plan:
    """:func:`make_plan` on a structure graph (``str`` nodes, attributes
    ``immutable`` and ``cost``); ``sizes`` are the JSON bytes of the nodes'
    signatures (:func:`signature_bytes`), or a function that computes them
    (called only when a canvas could be sent)."""
    canvas = plan_canvas(graph)
    shape = canvas_shape(canvas)
    canvas.metadata.update(shape)
    if canvas.added:
        cost = added_cost(canvas)
        canvas.metadata["added_cost"] = cost
        dependencies = f"{len(canvas.added)} added {'dependency' if len(canvas.added) == 1 else 'dependencies'}"
        added_text = f"{dependencies}, critical path +{cost:g} s"
    if strategy == "exact":
        return _exact(canvas, "exact dispatch, as asked: every node starts when its own predecessors finish")
    mapped = map_nodes(graph)
    if strategy == "auto" and mapped:
        return _exact(canvas, f"map node{'s' * (len(mapped) > 1)} {', '.join(mapped[:3])}"
                              f"{', …' * (len(mapped) > 3)}: the items are known only at run time; exact dispatch "
                              "fans them out as soon as the list arrives")
    if strategy == "auto" and canvas.added:
        return _exact(canvas, f"the graph is not series-parallel: a canvas would need {added_text}; "
                              "exact dispatch adds none")
    if strategy == "auto" and shape["longest_chain"] >= LONG_CHAIN:
        return _exact(canvas, f"a {shape['longest_chain']}-step chain: Celery's chain message carries the rest "
                              "of the chain (quadratic time); exact dispatch runs linear segments in constant-size "
                              "messages")
    if strategy == "auto" and shape["widest_chord"] >= WIDE_CHORD:
        return _exact(canvas, f"a chord over {shape['widest_chord']} tasks: exact dispatch counts arrivals "
                              "without the chord's join")
    # Counted only when a canvas could still be sent (it walks every message).
    canvas.metadata["carried"] = carried = carried_signatures(canvas.root)
    if strategy == "auto" and carried >= CARRIED_SIGNATURES:
        return _exact(canvas, f"a deeply nested canvas: its messages would carry {carried} signatures in "
                              "all (each carries the rest of its chain and chord bodies); exact dispatch sends "
                              "constant-size messages")
    # The canvas may be sent: how big are its messages, with the signatures' real sizes?
    largest, total, _ = message_bytes(celery_safe(canvas.root), (sizes() if callable(sizes) else sizes) or {})
    canvas.metadata.update(largest_message=largest, message_bytes=total)
    if largest > MESSAGE_BOUND:
        if strategy == "canvas":
            raise PlannerError(
                f"--strategy canvas: the canvas would send a message of {_megabytes(largest)} (over the "
                f"{_megabytes(MESSAGE_BOUND)} bound; each Celery message carries the rest of its chain and chord "
                "bodies): use --strategy exact")
        return _exact(canvas, f"the canvas would send a message of {_megabytes(largest)} (over "
                              f"{_megabytes(MESSAGE_BOUND)}: each carries the rest of its chain and chord bodies); "
                              "exact dispatch sends one node per message")
    if strategy == "canvas":
        if canvas.added:
            canvas.reason = f"pure canvas, as asked: the graph is not series-parallel ({added_text})"
        else:
            canvas.reason = "pure canvas, as asked (exact: the graph is series-parallel)"
        if mapped:
            canvas.reason += (f"; map node{'s' * (len(mapped) > 1)} {', '.join(mapped[:3])}{', …' * (len(mapped) > 3)} "
                              "sent as planner.map, which replaces itself with a chord over the items")
        return canvas
    canvas.reason = "pure canvas: the graph is series-parallel, so the canvas adds no dependency"
    return canvas


def _megabytes(count: int) -> str:
    """``1.0 MB``; ``60.8 MB``; two decimals where one would read as the
    bound itself (``1.04 MB``).

    >>> _megabytes(1024 * 1024), _megabytes(1090000), _megabytes(63753421)
    ('1.0 MB', '1.04 MB', '60.8 MB')
    """
    megabytes = count / 1024 / 1024
    if megabytes != round(megabytes, 1) and round(megabytes, 1) == 1.0:
        return f"{megabytes:.2f} MB"
    return f"{megabytes:.1f} MB"


def _exact(canvas: Plan, reason: str) -> Plan:
    metadata = dict(canvas.metadata)
    metadata["canvas_added"] = list(canvas.added)
    return Plan(graph=canvas.graph, root=canvas.root, added=(), strategy="exact", reason=reason, metadata=metadata)


def canvas_shape(plan: Plan) -> dict:
    """The longest chain (steps) and the widest chord header (tasks) of the
    plan's canvas: what makes Celery's canvas slow. (The signatures its
    messages carry, :func:`carried_signatures`, and their bytes are in
    ``plan.metadata`` once a canvas may be sent.)"""
    longest, widest = 0, 0
    for step in walk(plan.root):
        if isinstance(step, Chain):
            longest = max(longest, len(step.steps))
            for sub in step.steps[:-1]:
                if isinstance(sub, Group):
                    widest = max(widest, len(sub.members))
        elif isinstance(step, Chord):
            widest = max(widest, len(step.header.members))
    return {"longest_chain": longest, "widest_chord": widest}


def carried_signatures(root) -> int:
    """How many signatures the canvas's task messages carry in all: each
    task's message holds the rest of its chain and, in a chord header, the
    chord's body (with whatever follows it). Quadratic in a chain's length.

    >>> from planner.plan import Task
    >>> carried_signatures(Chain((Task("a"), Task("b"), Task("c"))))
    3
    >>> carried_signatures(Chain((Group((Task("a"), Task("b"))), Task("c"))))
    2
    """
    return message_bytes(root, {})[2]


def message_bytes(root, sizes: Mapping[str, int]) -> tuple[int, int, int]:
    """``(largest, total, carried)``: the bytes of the largest task message
    of the canvas ``root`` (best the emitted one, a
    :func:`~planner.shapes.celery_safe` tree), the bytes of all of them, and how many signatures they carry
    besides their own. ``sizes`` maps node names to the JSON bytes of their
    signatures (``DEFAULT_SIGNATURE_BYTES`` when missing).

    As Celery serialises them: a task's message holds its own call, the
    rest of its chain (the ``chain`` field), and in a chord header the
    chord's body with whatever follows the chord (the ``chord`` field), and
    so on for every enclosing chain; each carried signature also carries
    the ids and options Celery gives it (``SIGNATURE_OVERHEAD``).

    >>> from planner.plan import Task
    >>> message_bytes(Chain((Task("a"), Task("b"))), {"a": 100, "b": 100})
    (1200, 2100, 1)
    """
    cost: dict[int, int] = {}  # id(step) -> bytes of the step serialised inside a message
    count: dict[int, int] = {}  # id(step) -> signatures in it
    for step in reversed(list(walk(root))):  # children before parents
        parts = children(step)
        if parts:
            cost[id(step)] = sum(cost[id(p)] for p in parts) + (
                SIGNATURE_OVERHEAD if isinstance(step, Chain) else GROUP_OVERHEAD)
            count[id(step)] = sum(count[id(p)] for p in parts)
        else:
            cost[id(step)] = _task_bytes(step, sizes) + SIGNATURE_OVERHEAD
            count[id(step)] = 1 + bool(step.gather)
    largest = total = carried = 0
    stack = [(root, 0, 0)]  # (step, bytes and signatures that follow it in its messages)
    while stack:
        step, following, signatures = stack.pop()
        if isinstance(step, Chain):
            for part in reversed(step.steps):
                stack.append((part, following, signatures))
                following += cost[id(part)]
                signatures += count[id(part)]
        elif isinstance(step, Chord):
            stack.append((step.header, following + cost[id(step.body)], signatures + count[id(step.body)]))
            stack.append((step.body, following, signatures))
        elif isinstance(step, Group):
            stack.extend((member, following, signatures) for member in step.members)
        else:
            message = MESSAGE_OVERHEAD + _task_bytes(step, sizes) + following
            largest, total, carried = max(largest, message), total + message, carried + signatures
    return largest, total, carried


def _task_bytes(task, sizes: Mapping[str, int]) -> int:
    own = sizes.get(task.name, DEFAULT_SIGNATURE_BYTES)
    if task.gather:  # preceded by planner.gather with the inputs' task ids
        own += GATHER_BYTES + 40 * len(task.gather)
    return own


def signature_bytes(sig) -> int:
    """The JSON bytes of a node's signature (its task, arguments, options).

    >>> signature_bytes({"task": "tasks.add", "args": [2, 3]})
    37
    """
    return len(json.dumps(sig, default=repr))


def added_cost(plan: Plan) -> float:
    """How much the plan's added dependencies raise the critical path
    (seconds, by node ``cost``). The canvas's task order is a topological
    order of the graph with its added edges, so no copy of the graph is
    made (a 100k-node plan may add close to a million edges)."""
    order = [task.name for task in leaves(plan.root)]
    extra: dict = {}
    for u, v in plan.added:
        extra.setdefault(v, []).append(u)
    pred, nodes = plan.graph._pred, plan.graph.nodes
    finish: dict = {}
    for node in order:
        start = max((finish[p] for p in pred[node]), default=0.0)
        if node in extra:
            start = max(start, max(finish[p] for p in extra[node]))
        finish[node] = start + float(nodes[node].get("cost", 1))
    return round(max(finish.values()) - critical_path(plan.graph, order)[1], 9)


def signatures(graph: nx.DiGraph) -> dict:
    """Node name → the node's Celery signature."""
    return {str(node): attrs["task"] for node, attrs in graph.nodes(data=True)}
