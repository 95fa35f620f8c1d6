"""Choosing how a plan runs: ``make_plan(graph, strategy)`` and
``planner plan --strategy``. Pure planning, no workers."""

from __future__ import annotations

import networkx as nx
import pytest
from runhelp import planner_cli

from planner.planning import CARRIED_SIGNATURES, LONG_CHAIN, WIDE_CHORD, make_plan, plan_structure


def with_tasks(graph: nx.DiGraph) -> nx.DiGraph:
    from workload.tasks import step

    for node in graph:
        graph.nodes[node]["task"] = step.s(node=str(node))
    return graph


def n_shape() -> nx.DiGraph:
    return with_tasks(nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")]))


def diamond() -> nx.DiGraph:
    return with_tasks(nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]))


def test_auto_keeps_the_canvas_when_it_is_exact():
    plan = make_plan(diamond())
    assert plan.strategy == "canvas" and plan.added == ()
    assert "series-parallel" in plan.reason


def test_auto_runs_a_non_series_parallel_graph_exactly():
    plan = make_plan(n_shape())
    assert plan.strategy == "exact"
    assert plan.added == () and plan.exact
    assert plan.metadata["canvas_added"] == [("b", "c")]  # what the canvas would have imposed
    assert "not series-parallel" in plan.reason and "1 added dependency" in plan.reason


def test_canvas_reports_each_added_dependency_and_its_cost():
    shape = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")])
    nx.set_node_attributes(shape, {"a": 1, "b": 5, "c": 1, "d": 1}, "cost")
    plan = plan_structure(shape, "canvas")
    assert plan.strategy == "canvas"
    assert plan.added == (("b", "c"),)
    # c now waits for b, but b → c (6 s) is no longer than b → d (6 s): the cost is 0.
    assert plan.metadata["added_cost"] == 0
    assert "critical path +0 s" in plan.reason
    nx.set_node_attributes(shape, {"a": 1, "b": 5, "c": 3, "d": 1}, "cost")
    plan = plan_structure(shape, "canvas")
    assert plan.metadata["added_cost"] == 2  # b (5) then c (3) = 8 instead of b → d = 6
    assert "critical path +2 s" in plan.reason


def test_exact_never_adds_a_dependency():
    for graph in (n_shape(), diamond()):
        plan = make_plan(graph, "exact")
        assert plan.strategy == "exact" and plan.added == ()
        assert "as asked" in plan.reason
        assert plan.root is not None  # the canvas tree, for display


def test_auto_sends_long_chains_and_wide_chords_to_exact():
    chain = nx.DiGraph()
    nx.add_path(chain, range(LONG_CHAIN))
    plan = make_plan(with_tasks(chain))
    assert plan.strategy == "exact" and f"{LONG_CHAIN}-step chain" in plan.reason
    short = nx.DiGraph()
    nx.add_path(short, range(LONG_CHAIN - 1))
    assert make_plan(with_tasks(short)).strategy == "canvas"
    fan_in = with_tasks(nx.DiGraph([(f"h{i}", "body") for i in range(WIDE_CHORD)]))
    plan = make_plan(fan_in)
    assert plan.strategy == "exact" and "chord" in plan.reason
    assert make_plan(fan_in, "canvas").strategy == "canvas"


def nested_diamonds(count: int, width: int = 3) -> nx.DiGraph:
    """``count`` fan-out/fan-in diamonds in a row: chords nested in chord
    bodies, every chain short."""
    graph = nx.DiGraph()
    for i in range(count):
        graph.add_edges_from((f"j{i}", f"d{i}.{k}") for k in range(width))
        graph.add_edges_from((f"d{i}.{k}", f"j{i + 1}") for k in range(width))
    return with_tasks(graph)


def test_auto_sends_deeply_nested_canvases_to_exact():
    # Each chord header message carries the rest of the canvas: quadratic without a long chain.
    deep = make_plan(nested_diamonds(40))
    assert deep.metadata["longest_chain"] < LONG_CHAIN and deep.metadata["widest_chord"] < WIDE_CHORD
    assert deep.metadata["carried"] >= CARRIED_SIGNATURES
    assert deep.strategy == "exact" and "deeply nested canvas" in deep.reason
    shallow = make_plan(nested_diamonds(10))
    assert shallow.strategy == "canvas" and shallow.metadata["carried"] < CARRIED_SIGNATURES


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        make_plan(diamond(), "fastest")


def test_plan_command_prints_the_strategy_and_why():
    auto = planner_cli("plan", "examples/n_shape/graph.py")
    assert auto.returncode == 0, auto.stderr
    assert "strategy:        exact — the graph is not series-parallel" in auto.stdout
    assert "added dependencies: none" in auto.stdout
    canvas = planner_cli("plan", "examples/n_shape/graph.py", "--strategy", "canvas")
    assert "strategy:        canvas — pure canvas, as asked" in canvas.stdout
    assert "b → c" in canvas.stdout
    exact = planner_cli("plan", "examples/etl/graph.py", "--strategy", "exact")
    assert exact.returncode == 0, exact.stderr
    assert "strategy:        exact — exact dispatch, as asked" in exact.stdout
    bad = planner_cli("plan", "examples/etl/graph.py", "--strategy", "fastest")
    assert bad.returncode == 2
