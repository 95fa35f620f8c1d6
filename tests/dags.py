"""Hypothesis strategies for random DAGs: series-parallel ones and
arbitrary ones, with shuffled edge insertion order and some ``.si`` nodes."""

from __future__ import annotations

import networkx as nx
from hypothesis import strategies as st


@st.composite
def random_dags(draw, max_nodes: int = 60):
    """Any DAG: edges i→j (i<j in a hidden order), inserted in random order.
    Nodes are ints, so names are ``str(node)``."""
    n = draw(st.integers(1, max_nodes))
    density = draw(st.floats(0.02, 0.5))
    order = draw(st.permutations(range(n)))
    seed_edges = []
    for j in range(n):
        for i in range(j):
            if draw(st.floats(0, 1)) < density:
                seed_edges.append((order[i], order[j]))
    edges = draw(st.permutations(seed_edges)) if seed_edges else []
    graph = nx.DiGraph()
    graph.add_nodes_from(draw(st.permutations(range(n))))
    graph.add_edges_from(edges)
    return graph


@st.composite
def series_parallel_dags(draw, max_nodes: int = 60):
    """A vertex series-parallel DAG (series: every sink of the first part →
    every source of the second), optionally with extra transitive edges."""
    counter = iter(range(10**6))

    def build(budget: int):
        if budget <= 1 or draw(st.integers(0, 4)) == 0:
            node = next(counter)
            g = nx.DiGraph()
            g.add_node(node)
            return g
        left = draw(st.integers(1, budget - 1))
        a, b = build(left), build(budget - left)
        g = nx.union(a, b)
        if draw(st.booleans()):  # series
            sinks = [v for v in a if a.out_degree(v) == 0]
            sources = [v for v in b if b.in_degree(v) == 0]
            g.add_edges_from((u, v) for u in sinks for v in sources)
        return g

    graph = build(draw(st.integers(1, max_nodes)))
    if draw(st.booleans()):  # transitive edges: implied already, but carry data
        closure = nx.transitive_closure_dag(graph)
        extra = [e for e in closure.edges if not graph.has_edge(*e)]
        if extra:
            graph.add_edges_from(draw(st.lists(st.sampled_from(extra), max_size=5)))
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(draw(st.permutations(list(graph.nodes))))
    shuffled.add_edges_from(draw(st.permutations(list(graph.edges))))
    return shuffled


def with_tasks(graph: nx.DiGraph, immutable_flags, task) -> nx.DiGraph:
    """Attach ``task.s(node=...)`` or ``.si(...)`` to every node."""
    for node, flag in zip(list(graph.nodes), immutable_flags, strict=False):
        sig = task.si(node=str(node)) if flag else task.s(node=str(node))
        graph.nodes[node]["task"] = sig
    return graph


def fork_join_pipeline(stages: int, width: int = 4) -> nx.DiGraph:
    """``start`` → ``width`` tasks → a join, ``stages`` times in a row."""
    graph, previous = nx.DiGraph(), "start"
    for k in range(stages):
        for j in range(width):
            graph.add_edge(previous, f"f{k}_{j}")
            graph.add_edge(f"f{k}_{j}", f"j{k}")
        previous = f"j{k}"
    return graph
