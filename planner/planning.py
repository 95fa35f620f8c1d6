"""From a user's graph to a plan: the one entry point the CLI and the
runner call.

>>> plan = make_plan(load_graph("examples/etl/graph.py"))   # doctest: +SKIP
"""

from __future__ import annotations

import networkx as nx

from .analysis import plan_canvas
from .graphfile import structure
from .plan import Plan

STRATEGIES = ("auto", "canvas", "exact")


def make_plan(graph: nx.DiGraph, strategy: str = "auto") -> Plan:
    """Plan a validated user graph (nodes carry Celery signatures)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    plan = plan_canvas(structure(graph))
    plan.reason = "pure canvas" + (" (exact)" if plan.exact else f" ({len(plan.added)} added dependencies)")
    return plan


def signatures(graph: nx.DiGraph) -> dict:
    """Node name → the node's Celery signature."""
    return {str(node): attrs["task"] for node, attrs in graph.nodes(data=True)}
