"""Bad inputs that used to slip through, each now one line naming the file
(exit 2), and what the CLI shows about itself: graph files that exit at
import, node-link fields of the wrong type, invalid UTF-8, ``--timeout``
while loading, progress lines once per node, names escaped in ``plan``,
``--version``, ``--debug`` in ``--help``, why a node was skipped."""

from __future__ import annotations

import json
import time

import networkx as nx
import pytest
from runhelp import planner_cli, read_json, write_graph_file

from planner.cli import main
from planner.errors import PlannerError
from planner.graphfile import load_graph


def cli(capsys, *args) -> tuple[int, str, str]:
    """``planner ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize("exit_call, code", [("sys.exit(0)", 0), ("raise SystemExit(3)", 3)])
@pytest.mark.parametrize("command", ["plan", "run", "render", "lint"])
def test_a_graph_file_that_exits_at_import_is_one_line(tmp_path, capsys, command, exit_call, code):
    path = write_graph_file(tmp_path, f"""
        graph = nx.DiGraph()
        {exit_call}
    """)
    status, out, err = cli(capsys, command, path)
    message = f"graph.py:6: the graph file called sys.exit({code}) while being imported"
    if command == "lint":
        assert status == 1 and "PLN100 " + message.split(":", 2)[2].strip() in out
    else:
        assert status == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"planner: error: {path.parent}/{message}"), err


NODE = {"id": "a", "task": "workload.tasks.add", "args": [1, 2]}


@pytest.mark.parametrize("change, message", [
    ({"args": "abc"}, "node 'a': 'args' must be a list, got \"abc\" (a string)"),
    ({"immutable": "no"}, "node 'a': 'immutable' must be true or false, got \"no\" (a string)"),
    ({"immutable": 0}, "node 'a': 'immutable' must be true or false, got 0 (a number)"),
    ({"kwargs": ["x"]}, "node 'a': 'kwargs' must be an object, got [\"x\"] (a list)"),
    ({"task": 7}, "node 'a': 'task' must be a string, got 7 (a number)"),
    ({"task": "add"}, "node 'a': task must be 'module.task_name', got 'add'"),
    ({"cost": "high"}, "node 'a': 'cost' must be a number, got \"high\" (a string)"),
    ({"id": ["x"]}, "nodes[0]: 'id' must be a string or an integer, got [\"x\"] (a list)"),
    ({"id": None}, "nodes[0]: 'id' must be a string or an integer, got null"),
    ({"id": True}, "nodes[0]: 'id' must be a string or an integer, got true (a boolean)"),
])
def test_node_link_fields_are_type_checked(tmp_path, change, message):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": [{**NODE, **change}], "links": []}))
    with pytest.raises(PlannerError) as caught:
        load_graph(path)
    assert str(caught.value) == f"{path}: {message}"


def test_node_link_structure_is_checked(tmp_path):
    path = tmp_path / "graph.json"
    cases = [({"nodes": [{"task": "workload.tasks.add"}]}, "nodes[0] has no 'id'"),
             ({"nodes": "a"}, "'nodes' must be a list, got \"a\" (a string)"),
             ({"nodes": [7]}, "nodes[0] must be an object, got 7 (a number)"),
             ({"nodes": [NODE], "links": {}}, "'links' must be a list, got {} (an object)"),
             ({"nodes": [NODE], "links": [{"source": "a"}]}, "links[0] must be an object with 'source' and 'target'")]
    for document, message in cases:
        path.write_text(json.dumps(document))
        with pytest.raises(PlannerError) as caught:
            load_graph(path)
        assert str(caught.value) == f"{path}: {message}"
    path.write_text(json.dumps({"nodes": [{**NODE, "kwargs": None, "immutable": None}], "links": []}))
    assert load_graph(path).nodes["a"]["task"].kwargs == {}  # null is as good as absent


def test_invalid_utf8_names_the_file(tmp_path):
    source = tmp_path / "graph.py"
    source.write_bytes(b"import networkx as nx\nname = '\xff'\n")
    with pytest.raises(PlannerError, match=r"graph.py:2: not valid UTF-8 .*codec can't decode byte 0xff"):
        load_graph(source)
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nimport networkx as nx\nname = '\xe9'\ngraph = 1\n")
    with pytest.raises(PlannerError, match="latin.py: the graph must be a networkx.DiGraph"):  # decoded as declared
        load_graph(latin)
    document = tmp_path / "graph.json"
    document.write_bytes(b'{"nodes": [{"id": "\xff"}]}')
    with pytest.raises(PlannerError, match=r"graph.json: not valid UTF-8 \(byte 19\)"):
        load_graph(document)


@pytest.mark.timeout(60)
def test_timeout_covers_loading_the_graph_file(tmp_path):
    path = write_graph_file(tmp_path, """
        import time
        time.sleep(60)
        graph = nx.DiGraph()
    """)
    started = time.monotonic()
    result = planner_cli("run", path, "--timeout", "2", timeout=50)
    assert result.returncode == 124
    assert result.stderr.strip().splitlines() == [
        f"planner: error: timed out after 2 s while loading {path} (its imports did not finish)"]
    assert time.monotonic() - started < 30


@pytest.mark.timeout(60)
def test_a_failing_chord_header_counts_each_node_once(tmp_path):
    """A canvas chord whose header fails: Celery marks the body failed too,
    and the runner skips it; the progress shows it once, never [8/7]."""
    path = write_graph_file(tmp_path, """
        from workload.tasks import boom, step
        graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("e", "f"), ("a", "g")])
        for name in graph:
            graph.add_node(name, task=(boom if name == "b" else step).s(node=name))
    """)
    out = tmp_path / "report.json"
    result = planner_cli("run", path, "--strategy", "canvas", "--json", out)
    assert result.returncode == 1, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in progress] == [f"[{n}/7]" for n in range(1, 8)], result.stderr
    assert sorted(line.split()[1] for line in progress) == list("abcdefg")
    report = read_json(out)
    assert [report["nodes"][n]["state"] for n in "bdef"] == ["FAILURE", "SKIPPED", "SKIPPED", "SKIPPED"]
    assert report["nodes"]["d"]["reason"] == "after 'b' failed" and report["nodes"]["d"]["tries"] == 0


def test_plan_text_escapes_control_and_bidi_characters(tmp_path, capsys):
    path = write_graph_file(tmp_path, r"""
        from workload.tasks import step
        graph = nx.DiGraph([("line\nbreak", "tab\there"), ("tab\there", "evil\u202egnp.exe")])
        for name in graph:
            graph.add_node(name, task=step.s(node="x"))
    """)
    status, out, _ = cli(capsys, "plan", path)
    assert status in (0, None)
    assert "line\\nbreak" in out and "tab\\there" in out and "evil\\u202egnp.exe" in out
    assert "\t" not in out and "\u202e" not in out and "line\nbreak" not in out


def test_version_and_debug_are_in_the_help(capsys):
    status, out, _ = cli(capsys, "--version")
    assert status == 0 and out.startswith("planner 0.") and "celery 5." in out
    status, out, _ = cli(capsys, "--help")
    assert status == 0 and "--debug" in out and "--version" in out


def test_a_node_skipped_by_the_canvas_added_ordering_says_so():
    """On the N shape the canvas makes c wait for b: when b fails, c is
    skipped although it does not depend on b, and the report says why."""
    from workload.tasks import boom, step

    from planner.run import run_graph

    graph = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")])
    for name in graph:
        graph.add_node(name, task=(boom if name == "b" else step).s(node=name))
    report = run_graph(graph, local=True, strategy="canvas", timeout=30)
    assert report.plan.added == (("b", "c"),)
    states = {name: node.state for name, node in report.nodes.items()}
    assert states == {"a": "SUCCESS", "b": "FAILURE", "c": "SKIPPED", "d": "SKIPPED"}
    assert report.nodes["c"].reason == ("behind the added ordering b → c (the canvas adds it; the graph has no such "
                                        "dependency) after 'b' failed")
    assert report.nodes["d"].reason == "after 'b' failed"
    exact = run_graph(graph, local=True, strategy="exact", timeout=30)
    assert exact.nodes["c"].state == "SUCCESS"  # exact dispatch adds no ordering: c runs
