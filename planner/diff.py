"""What changed between two plans, for a reviewer: the nodes and edges
added, removed, changed or renamed, and how the strategy, the dependencies
the plan adds and the critical path moved. Pure: two plans in (and, to
compare arguments exactly, their nodes' signatures), a :class:`PlanDiff`
out; :meth:`PlanDiff.as_dict` and :func:`diff_lines` describe it.

A node is *changed* when its task, arguments (positional or keyword),
``.s``/``.si``, ``map``, ``cost`` or behaviour (queue, time limits,
retries) changed.
A node is *renamed* when a node that disappeared and one that appeared
have all of those the same and their edges map onto each other (each
neighbour the same node, or itself renamed); its edges then are the same
edges, listed neither as removed nor as added.

>>> import networkx as nx
>>> from planner.analysis import plan_canvas
>>> old = plan_canvas(nx.DiGraph([("a", "b")]))
>>> new = plan_canvas(nx.DiGraph([("a", "b"), ("b", "c")]))
>>> d = plan_diff(old, new)
>>> d.added_nodes, d.added_edges, d.removed_nodes
(['c'], [('b', 'c')], [])
>>> diff_lines(d)[0]
'nodes:  1 added (c)'
"""

from __future__ import annotations

import functools
import itertools
import json
from dataclasses import dataclass, field
from typing import Mapping

import networkx as nx

from .describe import critical_path
from .plan import Plan

#: The facts compared per node, in the order changes are told.
FIELDS = ("task", "args", "kwargs", "immutable", "map", "cost", "behaviour")


@dataclass(frozen=True)
class NodeChange:
    """A node in both plans whose facts differ: ``fields`` names what
    changed, ``old`` and ``new`` hold those fields' values (JSON-ready)."""

    name: str
    fields: tuple[str, ...]
    old: dict
    new: dict


@dataclass
class PlanDiff:
    """Old against new. Node and edge lists keep their graph's order; edges
    removed are named as in the old graph, everything else as in the new."""

    added_nodes: list[str]
    removed_nodes: list[str]
    changed_nodes: list[NodeChange]
    renamed_nodes: list[tuple[str, str]]  # (old name, new name)
    added_edges: list[tuple[str, str]]
    removed_edges: list[tuple[str, str]]
    old_strategy: tuple[str, str]  # (strategy, reason)
    new_strategy: tuple[str, str]
    added_dependencies_new: list[tuple[str, str]]  # the new plan adds them, the old did not
    added_dependencies_gone: list[tuple[str, str]]  # the old plan added them (old names), the new does not
    old_critical_path: tuple[list[str], float]
    new_critical_path: tuple[list[str], float]
    old_graph: nx.DiGraph = field(repr=False)  # the old plan's graph: removed nodes' labels, for drawing
    old_source: str = ""  # what was compared, as the user named it (for headings)
    new_source: str = ""

    @property
    def graph_changed(self) -> bool:
        return bool(self.added_nodes or self.removed_nodes or self.changed_nodes or self.renamed_nodes
                    or self.added_edges or self.removed_edges)

    @property
    def plan_changed(self) -> bool:
        return (self.old_strategy[0] != self.new_strategy[0] or bool(self.added_dependencies_new)
                or bool(self.added_dependencies_gone) or self.old_critical_path != self.new_critical_path)

    @functools.cached_property
    def _renamed(self) -> dict[str, str]:
        return dict(self.renamed_nodes)

    def new_name(self, old: str) -> str:
        """The name an old node has in the new graph (itself unless renamed)."""
        return self._renamed.get(old, old)

    def as_dict(self) -> dict:
        """``planner plan --diff --format json``'s ``"diff"``."""
        def path(found):
            return {"nodes": found[0], "cost": found[1]}

        return {
            "old": self.old_source,
            "new": self.new_source,
            "nodes": {
                "added": self.added_nodes,
                "removed": self.removed_nodes,
                "changed": [{"name": c.name, "changed": list(c.fields), "old": c.old, "new": c.new}
                            for c in self.changed_nodes],
                "renamed": [{"old": old, "new": new} for old, new in self.renamed_nodes],
            },
            "edges": {"added": [list(e) for e in self.added_edges], "removed": [list(e) for e in self.removed_edges]},
            "strategy": {"old": self.old_strategy[0], "new": self.new_strategy[0],
                         "old_reason": self.old_strategy[1], "new_reason": self.new_strategy[1]},
            "added_dependencies": {"added": [list(e) for e in self.added_dependencies_new],
                                   "removed": [list(e) for e in self.added_dependencies_gone]},
            "critical_path": {"old": path(self.old_critical_path), "new": path(self.new_critical_path)},
        }


def node_facts(plan: Plan, signatures: Mapping | None = None) -> dict[str, dict]:
    """Node name → its compared facts (JSON-ready). From ``signatures``
    (name → Celery signature) when given; otherwise the plan graph's
    ``label`` stands for the task and its arguments.

    >>> from planner.analysis import plan_canvas
    >>> node_facts(plan_canvas(nx.DiGraph([("a", "b")])))["b"]
    {'task': 'b', 'args': [], 'kwargs': {}, 'immutable': False, 'map': False, 'cost': 1.0, 'behaviour': {}}
    """
    from .graphfile import shown_task_name

    facts = {}
    for name, attrs in plan.graph.nodes(data=True):
        sig = (signatures or {}).get(name)
        if sig is not None:
            task, args, kwargs = shown_task_name(sig.task), _json(list(sig.args)), _json(dict(sig.kwargs))
        else:
            task, args, kwargs = str(attrs.get("label", name)), [], {}
        facts[name] = {"task": task, "args": args, "kwargs": kwargs, "immutable": bool(attrs.get("immutable")),
                       "map": bool(attrs.get("map")), "cost": float(attrs.get("cost", 1)),
                       "behaviour": _json(attrs.get("behaviour") or {})}
    return facts


_SCALARS = (str, int, float, bool, type(None))


def _json(value):
    """``value`` as JSON reads it back (tuples become lists), so equal
    arguments compare equal whichever way they were written."""
    if isinstance(value, list) and all(type(item) in _SCALARS for item in value):
        return value  # the usual arguments: nothing to convert
    if isinstance(value, dict) and not value:
        return {}
    try:
        return json.loads(json.dumps(value, sort_keys=True))
    except (TypeError, ValueError):  # a graph that was not validated
        return repr(value)


def plan_diff(old: Plan, new: Plan, old_signatures: Mapping | None = None, new_signatures: Mapping | None = None,
              old_source: str = "", new_source: str = "") -> PlanDiff:
    """Compare ``old`` with ``new`` (see the module docstring)."""
    old_facts, new_facts = node_facts(old, old_signatures), node_facts(new, new_signatures)
    og, ng = old.graph, new.graph
    removed = [n for n in og if n not in ng]
    added = [n for n in ng if n not in og]
    renames = _renames(og, ng, removed, added, old_facts, new_facts)
    changed = []
    for name in ng:
        if name in og and old_facts[name] != new_facts[name]:
            fields = tuple(f for f in FIELDS if old_facts[name][f] != new_facts[name][f])
            changed.append(NodeChange(name, fields, {f: old_facts[name][f] for f in fields},
                                      {f: new_facts[name][f] for f in fields}))

    renamed_to = set(renames.values())

    def renamed(node):
        return renames.get(node, node)

    old_edges = {(renamed(u), renamed(v)) for u, v in og.edges}
    new_added = {(str(u), str(v)) for u, v in new.added}
    old_added = {(renamed(str(u)), renamed(str(v))): (str(u), str(v)) for u, v in old.added}
    return PlanDiff(
        added_nodes=[n for n in added if n not in renamed_to],
        removed_nodes=[n for n in removed if n not in renames],
        changed_nodes=changed,
        renamed_nodes=list(renames.items()),
        added_edges=[(u, v) for u, v in ng.edges if (u, v) not in old_edges],
        removed_edges=[(u, v) for u, v in og.edges if not ng.has_edge(renamed(u), renamed(v))],
        old_strategy=(old.strategy, old.reason),
        new_strategy=(new.strategy, new.reason),
        added_dependencies_new=[(str(u), str(v)) for u, v in new.added if (str(u), str(v)) not in old_added],
        added_dependencies_gone=[edge for key, edge in old_added.items() if key not in new_added],
        old_critical_path=critical_path(og) if len(og) else ([], 0.0),
        new_critical_path=critical_path(ng) if len(ng) else ([], 0.0),
        old_graph=og,
        old_source=old_source,
        new_source=new_source,
    )


def _renames(og: nx.DiGraph, ng: nx.DiGraph, removed: list[str], added: list[str], old_facts: dict,
             new_facts: dict) -> dict[str, str]:
    """Old name → new name for each removed node that reappears under another
    name: the same facts, and edges that map onto each other.

    First, pairs whose facts match one to one are assumed renamed, and any
    pair whose edges do not map onto each other is dropped, until none is
    left to drop (dropping one can break its neighbours': a chain renamed
    whole holds up, a node whose edges moved does not). Then each node
    still unpaired is paired with a node of the same facts and the same
    neighbours, as far as they are known (several nodes of the same facts
    are told apart by their edges); each pair made may single out its
    neighbours' partners. Every step looks at a node's edges only: linear in
    the size of the graphs."""
    def key(facts):
        return json.dumps(facts, sort_keys=True)

    old_keys = {name: key(old_facts[name]) for name in removed}
    new_keys = {name: key(new_facts[name]) for name in added}
    by_key: dict[str, tuple[list[str], list[str]]] = {}
    for name, k in old_keys.items():
        by_key.setdefault(k, ([], []))[0].append(name)
    for name, k in new_keys.items():
        if k in by_key:
            by_key[k][1].append(name)
    pairs = {olds[0]: news[0] for olds, news in by_key.values() if len(olds) == 1 and len(news) == 1}

    def mapped(nodes):
        """Old names as new ones, None for a removed node not (yet) paired."""
        return frozenset(pairs.get(n, n if n in ng and n in og else None) for n in nodes)

    def holds(old_name: str, new_name: str) -> bool:
        return mapped(og.pred[old_name]) == frozenset(ng.pred[new_name]) and \
            mapped(og.succ[old_name]) == frozenset(ng.succ[new_name])

    def paired_neighbours(name: str):
        return (n for n in itertools.chain(og.pred[name], og.succ[name]) if n in pairs)

    check = list(pairs)
    while check:  # drop the pairs that do not hold up, then recheck their paired neighbours
        name = check.pop()
        if name in pairs and not holds(name, pairs[name]):
            del pairs[name]
            check.extend(paired_neighbours(name))

    taken = set(pairs.values())
    partners: dict[tuple, list[str]] = {}  # (facts, predecessors, successors) → new nodes
    for name, k in new_keys.items():
        if name not in taken and k in by_key:
            partners.setdefault((k, frozenset(ng.pred[name]), frozenset(ng.succ[name])), []).append(name)
    unpaired = [name for name in removed if name not in pairs and by_key[old_keys[name]][1]]
    while unpaired:
        name = unpaired.pop()
        if name in pairs:
            continue
        preds, succs = mapped(og.pred[name]), mapped(og.succ[name])
        if None in preds or None in succs:
            continue  # a neighbour not known yet: its pairing brings this node back
        found = partners.get((old_keys[name], preds, succs))
        while found and found[-1] in taken:
            found.pop()
        if not found:
            continue
        pairs[name] = found.pop()  # nodes of the same facts and the same neighbours are interchangeable
        taken.add(pairs[name])
        unpaired.extend(n for n in itertools.chain(og.pred[name], og.succ[name])
                        if n not in pairs and n in old_keys and by_key[old_keys[n]][1])
    # In the old graph's order, as the other lists are.
    return {name: pairs[name] for name in removed if name in pairs}


# -- Describing it -----------------------------------------------------------


def _names(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _edge(edge) -> str:
    return f"{edge[0]} → {edge[1]}"


def _call_arguments(args: list, kwargs: dict) -> str:
    return "(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"


def change_text(change: NodeChange) -> str:
    """``load: args ('a') → ('b'); .s → .si; cost 1 s → 3 s``."""
    parts = []
    for name in change.fields:
        old, new = change.old[name], change.new[name]
        if name == "immutable":
            parts.append(f"{'.si' if old else '.s'} → {'.si' if new else '.s'}")
        elif name == "map":
            parts.append(f"{'map' if old else 'not map'} → {'map' if new else 'not map'}")
        elif name == "cost":
            parts.append(f"cost {old:g} s → {new:g} s")
        elif name == "args":
            parts.append(f"args {_call_arguments(old, {})} → {_call_arguments(new, {})}")
        elif name == "kwargs":
            parts.append(f"kwargs {_call_arguments([], old)} → {_call_arguments([], new)}")
        elif name == "behaviour":
            from .behaviour import behaviour_text

            parts.append(f"{behaviour_text(old) if old else 'Celery defaults'} → "
                         f"{behaviour_text(new) if new else 'Celery defaults'}")
        else:
            parts.append(f"{name} {old} → {new}")
    return f"{change.name}: " + "; ".join(parts)


def diff_lines(d: PlanDiff, limit: int = 20) -> list[str]:
    """The diff in a few lines (``planner plan --diff``); at most ``limit``
    changed nodes are detailed.

    >>> from planner.analysis import plan_canvas
    >>> same = plan_canvas(nx.DiGraph([("a", "b")]))
    >>> diff_lines(plan_diff(same, same))
    ['no change: the same nodes, edges and plan']
    """
    if not d.graph_changed and not d.plan_changed:
        return ["no change: the same nodes, edges and plan"]
    lines = []
    parts = []
    if d.added_nodes:
        parts.append(f"{len(d.added_nodes)} added ({_names(d.added_nodes)})")
    if d.removed_nodes:
        parts.append(f"{len(d.removed_nodes)} removed ({_names(d.removed_nodes)})")
    if d.renamed_nodes:
        parts.append(f"{len(d.renamed_nodes)} renamed ({_names([_edge(r) for r in d.renamed_nodes], 4)})")
    if d.changed_nodes:
        parts.append(f"{len(d.changed_nodes)} changed")
    lines.append("nodes:  " + (", ".join(parts) if parts else "the same"))
    lines += [f"  {change_text(c)}" for c in d.changed_nodes[:limit]]
    if len(d.changed_nodes) > limit:
        lines.append(f"  … {len(d.changed_nodes) - limit} more changed (--format json lists all)")
    parts = []
    if d.added_edges:
        parts.append(f"{len(d.added_edges)} added ({_names([_edge(e) for e in d.added_edges], 4)})")
    if d.removed_edges:
        parts.append(f"{len(d.removed_edges)} removed ({_names([_edge(e) for e in d.removed_edges], 4)})")
    lines.append("edges:  " + (", ".join(parts) if parts else "the same"))
    (old, _), (new, new_reason) = d.old_strategy, d.new_strategy
    lines.append(f"strategy:  {old} → {new} ({new_reason})" if old != new else f"strategy:  {new} (unchanged)")
    if d.added_dependencies_new or d.added_dependencies_gone:
        parts = []
        if d.added_dependencies_new:
            parts.append(f"{len(d.added_dependencies_new)} more "
                         f"({_names([_edge(e) for e in d.added_dependencies_new], 4)})")
        if d.added_dependencies_gone:
            parts.append(f"{len(d.added_dependencies_gone)} fewer "
                         f"({_names([_edge(e) for e in d.added_dependencies_gone], 4)})")
        lines.append("added dependencies:  " + ", ".join(parts))
    else:
        lines.append("added dependencies:  unchanged")
    (old_path, old_cost), (new_path, new_cost) = d.old_critical_path, d.new_critical_path
    if (old_path, old_cost) == (new_path, new_cost):
        lines.append(f"critical path:  unchanged ({new_cost:g} s: {_names(new_path, 12)})")
    else:
        lines.append(f"critical path:  {old_cost:g} s → {new_cost:g} s: {_names(new_path, 12)}"
                     + (f" (was {_names(old_path, 12)})" if old_path != new_path else ""))
    return lines
