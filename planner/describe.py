"""Plain descriptions of a plan: summary figures, an indented tree and a
JSON-ready dict. Pure functions of the plan; the CLI only prints them.

>>> import networkx as nx
>>> from planner.analysis import plan_canvas
>>> plan = plan_canvas(nx.DiGraph([("a", "b"), ("b", "c")]))
>>> summarize(plan)["critical_path"]
['a', 'b', 'c']
"""

from __future__ import annotations

import json

import networkx as nx

from .plan import Chain, Chord, Group, Plan, Step, Task, children, kind, nesting_depth, shape_counts, walk


def critical_path(graph: nx.DiGraph, order: list | None = None) -> tuple[list[str], float]:
    """The heaviest path by node ``cost`` (default 1) and its total cost
    (``order``: a topological order of ``graph``, when the caller has one)."""
    pred, nodes = graph._pred, graph.nodes  # plain dicts: these loops run once per node of big graphs
    finish: dict = {}
    best_pred: dict = {}
    for node in order if order is not None else nx.topological_sort(graph):
        start, via = 0.0, None
        for p in pred[node]:
            if finish[p] > start:
                start, via = finish[p], p
        finish[node], best_pred[node] = start + float(nodes[node].get("cost", 1)), via
    end = max(finish, key=finish.__getitem__)
    path = [end]
    while best_pred[path[-1]] is not None:
        path.append(best_pred[path[-1]])
    return [str(n) for n in reversed(path)], finish[end]


def added_edge_costs(graph: nx.DiGraph, edges) -> list[float]:
    """For each edge ``(u, v)`` the graph lacks, how much adding it alone
    would lengthen the critical path (seconds, by node ``cost``): the longest
    path through it, less the graph's own critical path.

    >>> g = nx.DiGraph([("a", "c"), ("b", "d"), ("c", "e")])
    >>> added_edge_costs(g, [("b", "c"), ("e", "d")])
    [0.0, 1.0]
    """
    order = list(nx.topological_sort(graph))
    cost = {node: float(graph.nodes[node].get("cost", 1)) for node in order}
    finish: dict = {}  # longest path ending at the node, the node included
    for node in order:
        finish[node] = cost[node] + max((finish[p] for p in graph.predecessors(node)), default=0.0)
    tail: dict = {}  # longest path starting at the node, the node included
    for node in reversed(order):
        tail[node] = cost[node] + max((tail[w] for w in graph.successors(node)), default=0.0)
    length = max(finish.values())
    return [round(max(0.0, finish[u] + tail[v] - length), 9) for u, v in edges]


def levels(graph: nx.DiGraph, order: list | None = None) -> list[list[str]]:
    """Nodes grouped by the length of the longest path reaching them."""
    pred = graph._pred
    level: dict = {}
    for node in order if order is not None else nx.topological_sort(graph):
        level[node] = 1 + max((level[p] for p in pred[node]), default=-1)
    grouped: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for node, depth in level.items():
        grouped[depth].append(str(node))
    return grouped


def linear_segments(graph: nx.DiGraph) -> list[list[str]]:
    """Maximal runs of two or more nodes linked one-to-one (chain material)."""
    succ, pred = graph._succ, graph._pred

    def linked(u, v):
        return len(succ[u]) == 1 and len(pred[v]) == 1

    segments = []
    for node in graph:
        if len(pred[node]) == 1 and linked(next(iter(pred[node])), node):
            continue  # not the start of a segment
        run = [node]
        while len(succ[run[-1]]) == 1:
            nxt = next(iter(succ[run[-1]]))
            if not linked(run[-1], nxt):
                break
            run.append(nxt)
        if len(run) > 1:
            segments.append([str(n) for n in run])
    return segments


def summarize(plan: Plan) -> dict:
    """Figures for review: segments, fan-outs/ins, width, depth, critical
    path, canvas shape and the dependencies the plan adds."""
    graph = plan.graph
    order = list(nx.topological_sort(graph))
    path, length = critical_path(graph, order)
    by_level = levels(graph, order)
    shape = shape_counts(plan.root)
    gathers = sum(1 for step in walk(plan.root) if isinstance(step, Task) and step.gather)
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "strategy": plan.strategy,
        "reason": plan.reason,
        "exact": plan.exact,
        "linear_segments": linear_segments(graph),
        "fan_outs": [str(n) for n, after in graph._succ.items() if len(after) > 1],
        "fan_ins": [str(n) for n, before in graph._pred.items() if len(before) > 1],
        "width": max(len(level) for level in by_level),
        "depth": len(by_level),
        "critical_path": path,
        "critical_path_cost": length,
        "canvas": shape,
        "gathered_inputs": gathers,
        "map_nodes": [str(node) for node, mapped in graph.nodes(data="map") if mapped],
        "added_dependencies": [list(edge) for edge in plan.added],
        "added_dependency_costs": added_edge_costs(graph, plan.added) if plan.added else [],
    }


TEXT_INDENT = 40


def tree_lines(plan: Plan) -> list[str]:
    """The plan tree, indented, one step per line. A group followed by more
    work in its chain is shown as the chord header Celery makes of it.

    >>> from planner.analysis import plan_canvas
    >>> print("\\n".join(tree_lines(plan_canvas(nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])))))
    chain
      a
      chord header: group
        b
        c
      d
    """
    lines: list[str] = []
    stack: list[tuple[Step, int, str]] = [(plan.root, 0, "")]
    while stack:
        step, depth, role = stack.pop()
        # Deeper than TEXT_INDENT levels, the line says its depth instead of indenting further:
        # a deeply nested plan's text would otherwise be mostly spaces (quadratic in the depth).
        pad = "  " * depth if depth <= TEXT_INDENT else "  " * TEXT_INDENT + f"[{depth}] "
        if isinstance(step, Task):
            lines.append(f"{pad}{role}{_task_text(plan, step)}")
            continue
        lines.append(f"{pad}{role}{kind(step)}")
        if isinstance(step, Chord):
            subs = [(step.header, depth + 1, "header: "), (step.body, depth + 1, "body: ")]
        elif isinstance(step, Chain):
            last = len(step.steps) - 1
            subs = [(sub, depth + 1, "chord header: " if isinstance(sub, Group) and i < last else "")
                    for i, sub in enumerate(step.steps)]
        else:
            subs = [(sub, depth + 1, "") for sub in children(step)]
        stack.extend(reversed(subs))
    return lines


def _task_text(plan: Plan, task: Task) -> str:
    attrs = plan.graph.nodes[task.name]
    text = f"{task.name}  {attrs.get('label', '')}".rstrip()
    if attrs.get("immutable"):
        text += "  [.si: takes no input]"
    if attrs.get("map"):
        text += "  [map: once per item of its input, in parallel]"
    if task.gather == ():
        text += "  [sent immutable: no predecessors]"
    elif task.gather:
        text += f"  [input gathered from {', '.join(task.gather)}]"
    if attrs.get("behaviour"):
        from .behaviour import behaviour_text

        text += f"  [{behaviour_text(attrs['behaviour'])}]"
    return text


def tree_dict(step: Step) -> dict:
    """The plan tree as nested dicts (``{"kind": ..., ...}``), built without
    recursion.

    >>> tree_dict(Chain((Task("a"), Task("b"))))
    {'kind': 'chain', 'steps': [{'kind': 'task', 'name': 'a'}, {'kind': 'task', 'name': 'b'}]}
    """
    built: dict[int, dict] = {}
    for sub in reversed(list(walk(step))):  # children before parents
        if isinstance(sub, Task):
            out = {"kind": "task", "name": sub.name}
            if sub.gather is not None:
                out["gather"] = list(sub.gather)
        elif isinstance(sub, Chord):
            out = {"kind": "chord", "header": built[id(sub.header)], "body": built[id(sub.body)]}
        else:
            key = "steps" if isinstance(sub, Chain) else "members"
            out = {"kind": kind(sub), key: [built[id(part)] for part in children(sub)]}
        built[id(sub)] = out
    return built[id(step)]


# Larger plans are written compact: indented JSON costs a line per step, its size grows with the
# nesting (quadratic on deep plans), and only Python's slow pure-Python encoder indents.
JSON_INDENT_STEPS = 5000
JSON_INDENT_DEPTH = 40


def plan_json(plan: Plan, **extra) -> str:
    """``planner plan --format json``: :func:`plan_dict` (and ``extra``
    keys), indented unless the tree has more than ``JSON_INDENT_STEPS``
    steps or nests deeper than ``JSON_INDENT_DEPTH`` (then compact, on one
    line)."""
    small = sum(1 for _ in walk(plan.root)) <= JSON_INDENT_STEPS and nesting_depth(plan.root) <= JSON_INDENT_DEPTH
    return json.dumps({**plan_dict(plan), **extra}, indent=2 if small else None)


def plan_dict(plan: Plan) -> dict:
    """Everything ``planner plan --format json`` shows; ``nodes`` holds the
    queue, time limits and retry policy of nodes that differ from Celery's
    defaults (:mod:`planner.behaviour`), and ``"map": true`` on map nodes."""
    behaviour = {name: attrs["behaviour"] for name, attrs in plan.graph.nodes(data=True) if attrs.get("behaviour")}
    for name in plan.graph:  # a map node says so beside its behaviour
        if plan.graph.nodes[name].get("map"):
            behaviour[name] = {**behaviour.get(name, {}), "map": True}
    return {"plan": tree_dict(plan.root), "summary": summarize(plan), "nodes": behaviour}
