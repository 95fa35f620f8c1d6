"""No canvas message over 1 MB: the estimate of what each message carries,
checked against the bytes Celery publishes, and what ``auto`` and
``--strategy canvas`` do past the bound."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from celery.signals import before_task_publish
from dags import fork_join_pipeline
from kombu.utils.json import dumps
from runhelp import planner_cli, write_graph_file

from planner.planning import MESSAGE_BOUND, make_plan
from planner.run import run_graph


def nested(depth: int) -> nx.DiGraph:
    graph = nx.DiGraph()
    for i in range(depth):
        graph.add_edge(f"x{i}", f"y{i}")
        graph.add_edge(f"x{i}", f"x{i + 1}")
    return graph


def bipartite_layers(layers: int, width: int = 3) -> nx.DiGraph:
    return nx.DiGraph([(f"L{k}_{a}", f"L{k + 1}_{b}") for k in range(layers) for a in range(width)
                       for b in range(width)])


SHAPES = {"chain": nx.path_graph(60, create_using=nx.DiGraph), "fork-join": fork_join_pipeline(15),
          "nested": nested(40), "layers": bipartite_layers(6)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(SHAPES))
def test_the_estimate_covers_the_bytes_celery_publishes(name):
    from workload.tasks import step

    shape = SHAPES[name]
    graph = nx.DiGraph()
    graph.add_nodes_from(map(str, shape))
    graph.add_edges_from((str(u), str(v)) for u, v in shape.edges)
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node)
    published: list[int] = []

    def record(body=None, headers=None, **_):
        if headers and headers.get("task") != "planner.noop":
            published.append(len(dumps(body)) + len(dumps(headers)))

    before_task_publish.connect(record, weak=False)
    try:
        report = run_graph(graph, local=True, strategy="canvas", timeout=60)
    finally:
        before_task_publish.disconnect(record)
    assert report.status == "SUCCESS"
    estimate = make_plan(graph, "canvas").metadata
    assert published and max(published) <= estimate["largest_message"] <= 2 * max(published), (
        max(published), estimate["largest_message"])
    assert sum(published) <= estimate["message_bytes"] <= 2 * sum(published)


BIG_ARGUMENTS = """
from workload.tasks import step

graph = nx.DiGraph()
names = [f"s{i}" for i in range(60)]
for name in names:
    graph.add_node(name, task=step.s(node=name + "-" + "x" * 20_000))  # 20 KB of arguments each
nx.add_path(graph, names)
"""


def test_past_one_megabyte_auto_goes_exact_and_canvas_is_a_one_line_error(tmp_path):
    path = write_graph_file(tmp_path, BIG_ARGUMENTS)
    result = planner_cli("plan", path, "--strategy", "canvas")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MB" in lines[0] and "--strategy exact" in lines[0], result.stderr
    auto = planner_cli("plan", path, "--format", "json")
    assert auto.returncode == 0, auto.stderr
    assert '"strategy": "exact"' in auto.stdout and "message of" in auto.stdout


def test_a_hundred_node_dag_that_is_not_series_parallel_stays_under_the_bound():
    """The issue's 100-node DAG queued a 60.8 MB message as a canvas; whatever
    the plan, no message of what planner sends may exceed the bound."""
    from workload.tasks import step

    rng = random.Random(3)
    graph = nx.DiGraph()
    for j in range(100):
        graph.add_node(str(j), task=step.s(node=str(j)))
        for i in rng.sample(range(j), min(j, 3)):
            graph.add_edge(str(i), str(j))
    plan = make_plan(graph, "auto")
    if plan.strategy == "canvas":
        assert plan.metadata["largest_message"] <= MESSAGE_BOUND
