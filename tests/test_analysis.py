"""The core promise: the emitted canvas respects every dependency and hands
every node exactly its contract input — checked by an independent
interpreter of Celery's canvas semantics over random DAGs."""

from __future__ import annotations

import networkx as nx
import pytest
from dags import fork_join_pipeline, random_dags, series_parallel_dags, with_tasks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import NOTHING, interpret
from workload.tasks import step

from planner.analysis import plan_canvas
from planner.canvas import to_canvas
from planner.graphfile import structure
from planner.plan import Chain, Chord, kind, leaves, nesting_depth, walk
from planner.planning import signatures

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def contract(graph: nx.DiGraph, node):
    if graph.nodes[node]["task"].immutable:
        return NOTHING
    preds = [str(p) for p in graph.predecessors(node)]
    if not preds:
        return NOTHING
    return preds[0] if len(preds) == 1 else preds


def check_plan(user_graph: nx.DiGraph):
    plan = plan_canvas(structure(user_graph))
    canvas, ids = to_canvas(plan, signatures(user_graph))
    trace = interpret(canvas, {tid: name for name, tid in ids.items()})
    names = {str(n): n for n in user_graph}
    assert sorted(trace.runs) == sorted(names), "every node exactly once"
    assert set(trace.runs.values()) == {1}
    assert sorted(t.name for t in leaves(plan.root)) == sorted(names)
    enforced = nx.transitive_closure_dag(plan.dependencies())
    for name, node in names.items():
        assert trace.received[name] == contract(user_graph, node), f"input of {name}"
        preds = {str(p) for p in user_graph.predecessors(node)}
        assert preds <= trace.finished_before[name], f"{name} may start before a predecessor"
        # Any ordering beyond the graph's must be reported in plan.added.
        assert trace.finished_before[name] <= set(enforced.predecessors(name))
    return plan, trace


@SETTINGS
@given(graph=random_dags(), data=st.data())
def test_random_dags_get_exact_inputs_and_order(graph, data):
    flags = data.draw(st.lists(st.booleans(), min_size=len(graph), max_size=len(graph)))
    check_plan(with_tasks(graph, flags, step))


@SETTINGS
@given(graph=series_parallel_dags(), data=st.data())
def test_series_parallel_dags_plan_exactly(graph, data):
    flags = data.draw(st.lists(st.booleans(), min_size=len(graph), max_size=len(graph)))
    user_graph = with_tasks(graph, flags, step)
    plan, trace = check_plan(user_graph)
    assert plan.added == ()
    closure = nx.transitive_closure_dag(user_graph)
    for node in user_graph:
        assert trace.finished_before[str(node)] == {str(p) for p in closure.predecessors(node)}


def graph_of(edges, nodes=(), immutable=()):
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return with_tasks(graph, [n in immutable for n in graph], step)


def test_chain_is_a_plain_chain_without_helpers():
    plan, _ = check_plan(graph_of([("add", "multiply"), ("multiply", "log")], immutable={"log"}))
    assert [t.gather for t in leaves(plan.root)] == [None, None, None]
    assert type(plan.root).__name__ == "Chain"


def test_n_shape_reports_the_added_dependency():
    plan, trace = check_plan(graph_of([("a", "c"), ("a", "d"), ("b", "d")]))
    assert plan.added == (("b", "c"),)
    assert trace.received["d"] == ["a", "b"]


def test_transitive_edge_whose_result_is_consumed():
    plan, trace = check_plan(graph_of([("a", "b"), ("b", "c"), ("a", "c")]))
    assert plan.added == ()
    assert trace.received["c"] == ["b", "a"]  # graph.predecessors order: b first, then a


def test_fan_in_follows_predecessor_order_not_insertion_of_nodes():
    plan, trace = check_plan(graph_of([("z", "sink"), ("a", "sink"), ("m", "sink")]))
    assert trace.received["sink"] == ["z", "a", "m"]
    assert all(t.gather is None for t in leaves(plan.root))


def test_long_chain_plans_linearly_without_recursion_trouble():
    n = 20_000
    graph = nx.DiGraph()
    nx.add_path(graph, [f"n{i}" for i in range(n)])
    plan = plan_canvas(graph)
    assert len(plan.root.steps) == n


def test_deeply_nested_graph_plans():
    # x0 → (y0 | (x1 → (y1 | (x2 → ...)))): nesting depth grows with size.
    graph = nx.DiGraph()
    for i in range(1500):
        graph.add_edge(f"x{i}", f"y{i}")
        graph.add_edge(f"x{i}", f"x{i + 1}")
    plan = plan_canvas(graph)
    assert plan.added == ()


@pytest.mark.parametrize("cost_b", [1, 5])
def test_forced_cut_keeps_critical_path_when_it_can(cost_b):
    # N shape plus a long tail after c: cutting must not put b before the tail.
    graph = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d"), ("c", "e"), ("e", "f")])
    graph.nodes["b"]["cost"] = cost_b
    plan = plan_canvas(graph)
    assert all(u != "f" for u, _ in plan.added)


def test_a_fork_join_pipeline_plans_as_one_flat_chain():
    # 20k nodes, 4,000 fork/join stages: the old tree nested the rest of the chain in each chord
    # body, 12k levels deep. Flat: chain(start, group(...), j0, group(...), j1, ...), depth 2.
    plan = plan_canvas(fork_join_pipeline(4000))
    assert plan.added == ()
    assert nesting_depth(plan.root) == 2
    assert isinstance(plan.root, Chain) and len(plan.root.steps) == 1 + 2 * 4000
    assert [kind(step) for step in plan.root.steps[:4]] == ["task", "group", "task", "group"]


def test_chains_hold_groups_in_the_middle_not_chords():
    plan, _ = check_plan(graph_of([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]))
    assert [kind(step) for step in plan.root.steps] == ["task", "group", "task", "task"]
    assert not any(isinstance(step, Chord) for step in walk(plan.root))
