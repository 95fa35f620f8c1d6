"""``planner run`` on the embedded default: a real Celery worker (threads
pool) in the process, in-memory broker and result store, JSON messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from runhelp import ROOT, check_contract, planner_cli, read_json, small_dags, with_tasks, write_graph_file

from planner.run import run_graph


@pytest.mark.timeout(90)
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # shrinking real runs takes too long
@given(shape=small_dags(max_nodes=10))
def test_random_dags_keep_the_contract_on_the_embedded_worker(shape, tmp_path_factory):
    from workload.tasks import counted

    tally = tmp_path_factory.mktemp("tally") / "runs.txt"
    graph = with_tasks(shape, counted, sleep=0.01, tally=str(tally))
    report = run_graph(graph, local=True, timeout=30)
    assert report.status == "SUCCESS", report.as_json()
    results = {name: node.result for name, node in report.nodes.items()}
    check_contract(graph, results, tally.read_text().split())
    for node in report.nodes.values():
        assert node.started is not None and node.finished is not None and node.finished >= node.started
        assert node.worker


@pytest.mark.timeout(60)
def test_a_failure_skips_its_descendants_only(tmp_path):
    import networkx as nx
    from workload.tasks import boom, counted

    tally = tmp_path / "runs.txt"
    graph = nx.DiGraph([("root", "bad"), ("bad", "after"), ("after", "last"), ("root", "good"), ("good", "fine")])
    for node in graph:
        task = boom if node == "bad" else counted
        kwargs = {} if node == "bad" else {"tally": str(tally)}
        graph.nodes[node]["task"] = task.s(node=node, **kwargs)
    report = run_graph(graph, local=True, timeout=30)
    states = {name: node.state for name, node in report.nodes.items()}
    assert states == {"root": "SUCCESS", "bad": "FAILURE", "after": "SKIPPED", "last": "SKIPPED",
                      "good": "SUCCESS", "fine": "SUCCESS"}
    assert report.status == "FAILURE" and report.exit_code == 1
    assert report.nodes["bad"].error == "ValueError: bad failed on purpose"
    assert sorted(tally.read_text().split()) == ["fine", "good", "root"]  # skipped nodes never ran


@pytest.mark.timeout(60)
def test_retries_are_honoured(tmp_path):
    import networkx as nx
    from workload.tasks import counted, flaky

    graph = nx.DiGraph([("first", "shaky"), ("shaky", "then")])
    graph.nodes["first"]["task"] = counted.s(node="first")
    graph.nodes["shaky"]["task"] = flaky.s(node="shaky", counter=str(tmp_path / "counter"))
    graph.nodes["then"]["task"] = counted.s(node="then")
    report = run_graph(graph, local=True, timeout=30)
    assert report.status == "SUCCESS", report.as_json()
    assert report.nodes["shaky"].result["attempt"] == 3
    assert report.nodes["then"].result["got"] == "shaky"


FAILING_GRAPH = """
from workload.tasks import boom, step

graph = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")])
graph.add_node("a", task=step.s(node="a"))
graph.add_node("b", task=boom.s(node="b"))
graph.add_node("c", task=step.s(node="c"))
graph.add_node("d", task=step.s(node="d", sleep=0.1))
"""


@pytest.mark.timeout(60)
def test_cli_json_report_has_every_node(tmp_path):
    path = write_graph_file(tmp_path, FAILING_GRAPH)
    out = tmp_path / "report.json"
    result = planner_cli("run", path, "--json", out)
    assert result.returncode == 1, result.stderr
    report = read_json(out)
    assert report["status"] == "FAILURE"
    assert set(report["nodes"]) == {"a", "b", "c", "d"}
    for name, node in report["nodes"].items():
        assert set(node) == {"state", "result", "error", "task_id", "started", "finished", "worker", "tries", "runs",
                             "fingerprint",
                             "reason"}, name
    assert [report["nodes"][n]["state"] for n in "abcd"] == ["SUCCESS", "FAILURE", "SKIPPED", "SUCCESS"]
    assert report["nodes"]["b"]["error"] == "ValueError: b failed on purpose"
    assert report["nodes"]["d"]["result"]["got"] == "a"
    assert report["nodes"]["c"]["result"] is None and report["nodes"]["c"]["started"] is None
    assert report["nodes"]["c"]["reason"] == "after 'b' failed" and report["nodes"]["c"]["tries"] == 0
    assert report["nodes"]["a"]["tries"] == 1
    assert report["nodes"]["a"]["started"] <= report["nodes"]["a"]["finished"]
    assert "[1/4]" in result.stderr  # plain progress lines when not a terminal
    assert "FAILURE" in result.stdout and "SKIPPED" in result.stdout
    table = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1] in "abcd"}
    assert '{"node": "d"' in table["d"]  # results in the table, cut short
    assert "ValueError" in table["b"]  # errors where results would be


@pytest.mark.timeout(60)
def test_cli_timeout_exits_124_with_one_line(tmp_path):
    path = write_graph_file(tmp_path, """
        from workload.tasks import step

        graph = nx.DiGraph([("quick", "slow")])
        graph.add_node("quick", task=step.s(node="quick"))
        graph.add_node("slow", task=step.s(node="slow", sleep=5))
    """)
    out = tmp_path / "report.json"
    result = planner_cli("run", path, "--timeout", "1", "--json", out, "--quiet")
    assert result.returncode == 124
    assert result.stderr.strip().splitlines() == ["planner: error: timed out after 1 s: 1 of 2 nodes finished"]
    report = read_json(out)
    assert report["status"] == "TIMEOUT"
    assert report["nodes"]["quick"]["state"] == "SUCCESS"
    assert report["nodes"]["slow"]["state"] == "UNFINISHED"


@pytest.mark.timeout(60)
def test_big_results_passed_on_are_warned_about(tmp_path):
    path = write_graph_file(tmp_path, """
        from workload.tasks import multiply, step

        graph = nx.DiGraph([("big", "use")])
        graph.add_node("big", task=multiply.si("x", 2000))
        graph.add_node("use", task=step.s(node="use"))
    """)
    result = planner_cli("run", path, "--max-result-bytes", "1000")
    assert result.returncode == 0, result.stderr
    assert "warning: node 'big' passed 2 KB to its successors" in result.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize("example", sorted(p.parent.name for p in (ROOT / "examples").glob("*/graph.py")))
def test_examples_run_on_the_embedded_default(example):
    result = planner_cli("run", f"examples/{example}/graph.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS:" in result.stdout


@pytest.mark.timeout(60)
def test_make_run_path(tmp_path):
    out, picture = tmp_path / "etl.json", tmp_path / "etl.svg"
    result = planner_cli("run", "examples/etl/graph.py", "--local", "--json", out, "--render", picture)
    assert result.returncode == 0, result.stderr
    assert "<svg" in picture.read_text()
    report = read_json(out)
    assert report["nodes"]["load"]["result"]["sources"] == ["orders", "customers", "products"]
    assert report["nodes"]["notify"]["result"] == "loaded 2300 rows"


@pytest.mark.timeout(30)
def test_bad_option_combinations_are_one_line_errors(tmp_path):
    result = planner_cli("run", "examples/etl/graph.py", "--local", "--workers", "2")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--local" in result.stderr
    missing = planner_cli("run", Path(tmp_path) / "nope.py")
    assert missing.returncode == 2 and "no such graph file" in missing.stderr
