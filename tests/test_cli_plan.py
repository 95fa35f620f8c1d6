"""`planner plan` through the real command: output formats and every
validation error (one line, exit code 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLANNER = [sys.executable, "-m", "planner"]

TASKS = '''
from celery import Celery
app = Celery("t")

@app.task
def add(x, y):
    return x + y

@app.task
def multiply(value, factor):
    return value * factor

@app.task
def log_done(message):
    return message

@app.task(bind=True)
def bound(self, value):
    return value
'''


def planner(*args, cwd=ROOT, timeout=60):
    return subprocess.run([*PLANNER, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def graph_file(tmp_path: Path, body: str, name: str = "graph.py") -> Path:
    (tmp_path / "tasks.py").write_text(TASKS)
    path = tmp_path / name
    path.write_text("import networkx as nx\nfrom tasks import add, multiply, log_done, bound\n" + textwrap.dedent(body))
    return path


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_text_plan_of_the_etl_example():
    result = planner("plan", "examples/etl/graph.py")
    assert result.returncode == 0, result.stderr
    assert "chord header: group" in result.stdout
    assert "added dependencies: none" in result.stdout
    assert "critical path:   5 s" in result.stdout


def test_json_plan_lists_added_dependencies():
    result = planner("plan", "examples/n_shape/graph.py", "--format", "json", "--strategy", "canvas")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["added_dependencies"] == [["b", "c"]]
    assert data["summary"]["added_dependency_costs"] == [0.0]  # b and a both cost 1: c waits for nothing longer
    assert data["plan"]["kind"] == "chain" and [s["kind"] for s in data["plan"]["steps"]] == ["group", "group"]


def test_python_format_builds_the_same_canvas(tmp_path):
    result = planner("plan", "examples/etl/graph.py", "--format", "python")
    assert result.returncode == 0, result.stderr
    assert "planner" not in result.stdout  # no helper needed, no planner import
    namespace: dict = {}
    sys.path.insert(0, str(ROOT / "examples/etl"))
    try:
        exec(compile(result.stdout, "generated.py", "exec"), namespace)
    finally:
        sys.path.remove(str(ROOT / "examples/etl"))
    canvas = namespace["canvas"]
    assert type(canvas).__name__ == "_chain"
    assert [t["task"] for t in canvas.tasks[1].tasks] == ["tasks.transform"] * 3


def test_python_format_with_gathered_inputs_imports_the_helper():
    result = planner("plan", "examples/n_shape/graph.py", "--format", "python", "--strategy", "canvas")
    assert "from planner.tasks import gather" in result.stdout
    compile(result.stdout, "generated.py", "exec")


def test_json_graph_file(tmp_path):
    (tmp_path / "tasks.py").write_text(TASKS)
    data = {
        "directed": True, "multigraph": False, "graph": {},
        "nodes": [
            {"id": "add", "task": "tasks.add", "args": [2, 3]},
            {"id": "multiply", "task": "tasks.multiply", "args": [10]},
            {"id": "log", "task": "tasks.log_done", "args": ["done"], "immutable": True},
        ],
        "edges": [{"source": "add", "target": "multiply"}, {"source": "multiply", "target": "log"}],
    }
    (tmp_path / "graph.json").write_text(json.dumps(data))
    result = planner("plan", tmp_path / "graph.json")
    assert result.returncode == 0, result.stderr
    assert "log  tasks.log_done('done')  [.si: takes no input]" in result.stdout


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("graph = nx.DiGraph(\n", ["graph.py:", "syntax error"]),
        ("graph = nx.DiGraph()\nraise RuntimeError('boom')\n", ["graph.py:4:", "RuntimeError: boom"]),
        ("from tasks import missing\n", ["graph.py:3:", "ImportError"]),
        ("other = nx.DiGraph()\n", ["no attribute 'graph'"]),
        ("graph = nx.Graph()\n", ["must be a networkx.DiGraph", "Graph"]),
        ("graph = nx.DiGraph()\n", ["the graph is empty"]),
        (
            "graph = nx.DiGraph()\n"
            "for n in 'abc': graph.add_node(n, task=log_done.si(n))\n"
            "graph.add_edges_from([('a', 'b'), ('b', 'c'), ('c', 'a')])\n",
            ["cycle", "a -> b -> c -> a"],
        ),
        ("graph = nx.DiGraph()\ngraph.add_node('x')\n", ["node 'x' has no 'task'"]),
        ("graph = nx.DiGraph()\ngraph.add_node('x', task=add)\n", ["node 'x'", "Celery signature"]),
        (
            "graph = nx.DiGraph()\n"
            "graph.add_node('add', task=add.s(2, 3))\n"
            "graph.add_node('multiply', task=multiply.s(10, 20))\n"
            "graph.add_edge('add', 'multiply')\n",
            ["node 'multiply'", "cannot take the upstream result", ".si()"],
        ),
        (
            "graph = nx.DiGraph()\ngraph.add_node(1, task=log_done.si('a'))\ngraph.add_node('1', task=log_done.si('b'))\n",
            ["same name '1'"],
        ),
        (
            "from celery import chain\ngraph = nx.DiGraph()\ngraph.add_node('x', task=chain(add.s(1, 2), multiply.s(3)))\n",
            ["single task signature"],
        ),
        ("graph = nx.DiGraph()\ngraph.add_node('x', task=add.s(1, object()))\n", ["not JSON-serializable"]),
    ],
    ids=["syntax", "raises", "import", "no-attribute", "not-digraph", "empty", "cycle", "no-task",
         "not-signature", "arity", "name-collision", "canvas-node", "not-json"],
)
def test_validation_errors_are_one_line_with_exit_2(tmp_path, body, fragments):
    result = planner("plan", graph_file(tmp_path, body))
    assert_one_line_error(result, *fragments)


def test_missing_file():
    assert_one_line_error(planner("plan", "no/such/graph.py"), "no such graph file")


def test_graph_option_picks_another_attribute(tmp_path):
    path = graph_file(tmp_path, "pipeline = nx.DiGraph()\npipeline.add_node('a', task=add.s(1, 2))\n")
    assert planner("plan", path, "--graph", "pipeline").returncode == 0


def test_bound_task_arity_counts_self(tmp_path):
    body = ("graph = nx.DiGraph()\ngraph.add_node('a', task=add.s(1, 2))\n"
            "graph.add_node('b', task=bound.s())\ngraph.add_edge('a', 'b')\n")
    assert planner("plan", graph_file(tmp_path, body)).returncode == 0


def test_debug_shows_the_traceback(tmp_path):
    result = planner("--debug", "plan", graph_file(tmp_path, "graph = nx.DiGraph()\n"))
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_exact_plan_says_the_tree_is_only_its_canvas_shape():
    result = planner("plan", "examples/n_shape/graph.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("exact dispatch: each node is sent when its own predecessors finish")
    assert "canvas:          1 chain, 1 group, 1 chord\n" in result.stdout


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    # `planner plan big.py | head -c 1`: the output is larger than a pipe's buffer, so the
    # write fails once the reader has gone; the closed pipe ends the command quietly.
    path = graph_file(tmp_path, """
        graph = nx.DiGraph()
        for i in range(2000):
            graph.add_node(f"step-{i}", task=log_done.si(f"step {i}"))
        nx.add_path(graph, [f"step-{i}" for i in range(2000)])
    """)
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    result = subprocess.run(
        [*PLANNER, "plan", str(path)],
        stdout=reader.stdin, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60,
    )
    reader.stdin.close()
    reader.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_each_added_dependency_says_what_it_costs(tmp_path):
    # The N shape a → c, a → d, b → d with a slow b and a slow c: the canvas makes c wait
    # for b, and the path b, c (3 + 5 s) is 2 s longer than the graph's own a, c (1 + 5 s).
    path = graph_file(tmp_path, """
        graph = nx.DiGraph()
        for name, cost in (("a", 1), ("b", 3), ("c", 5), ("d", 1)):
            graph.add_node(name, task=log_done.si(name), cost=cost)
        graph.add_edges_from([("a", "c"), ("a", "d"), ("b", "d")])
    """)
    result = planner("plan", path, "--strategy", "canvas")
    assert result.returncode == 0, result.stderr
    assert "  b → c  +2 s" in result.stdout
    data = json.loads(planner("plan", path, "--strategy", "canvas", "--format", "json").stdout)
    assert data["summary"]["added_dependencies"] == [["b", "c"]]
    assert data["summary"]["added_dependency_costs"] == [2.0]


def test_graph_files_in_one_process_each_import_their_own_tasks(tmp_path):
    """Two graph folders with a ``tasks.py`` each, loaded one after the other
    (and the first again): ``from tasks import ...`` is always the file beside
    the graph, as in a fresh ``planner plan`` process."""
    from planner.graphfile import load_graph

    paths = []
    for name, task in (("one", "first"), ("two", "second")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "tasks.py").write_text(
            f"from celery import Celery\napp = Celery({name!r})\n\n@app.task\ndef {task}():\n    return {name!r}\n")
        (folder / "graph.py").write_text(
            f"import networkx as nx\nfrom tasks import {task}\ngraph = nx.DiGraph()\n"
            f"graph.add_node('n', task={task}.si())\n")
        paths.append(folder / "graph.py")
    for path, task in zip([*paths, paths[0]], ["tasks.first", "tasks.second", "tasks.first"], strict=True):
        assert load_graph(path).nodes["n"]["task"].task == task


PIPELINE = """
from tasks import add
graph = nx.DiGraph()
previous = "start"
for k in range({stages}):
    for j in range(4):
        graph.add_edge(previous, f"f{{k}}_{{j}}")
        graph.add_edge(f"f{{k}}_{{j}}", f"j{{k}}")
    previous = f"j{{k}}"
for node in graph:
    graph.nodes[node]["task"] = add.si(1, 2)
"""

NESTED = """
from tasks import add
graph = nx.DiGraph()
for i in range(300):
    graph.add_edge(f"x{i}", f"y{i}")
    graph.add_edge(f"x{i}", f"x{i + 1}")
for node in graph:
    graph.nodes[node]["task"] = add.si(1, 2)
"""


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name, body", [("pipeline", PIPELINE.format(stages=1000)), ("nested", NESTED)])
def test_every_output_of_long_and_deep_plans(tmp_path, name, body):
    """A 5k-node fork-join pipeline (1,000 stages; flat, depth 2) and a graph
    nested 600 levels deep: every output format, no RecursionError, the
    Python source compiles (deep parts assigned to variables first)."""
    path = graph_file(tmp_path, body, f"{name}.py")
    for fmt in ("text", "json", "python"):
        result = planner("plan", path, "--format", fmt, timeout=240)
        assert result.returncode == 0 and "Error" not in result.stderr, result.stderr[-500:]
        if fmt == "json" and name == "pipeline":  # (the nested one is deeper than json.loads recurses)
            data = json.loads(result.stdout)
            assert data["plan"]["kind"] == "chain" and len(data["plan"]["steps"]) == 2001
        if fmt == "python":
            compile(result.stdout, f"{name}_canvas.py", "exec")
        if fmt == "text" and name == "nested":
            assert max(len(line) - len(line.lstrip()) for line in result.stdout.splitlines()) <= 2 * 40
    for suffix in (".dot", ".mmd"):
        result = planner("render", path, "-o", tmp_path / f"{name}{suffix}", timeout=240)
        assert result.returncode == 0, result.stderr[-500:]


def test_a_graph_file_may_define_dataclasses(tmp_path):
    """@dataclass looks its class's module up in sys.modules while the file runs."""
    path = graph_file(tmp_path, '''
        from dataclasses import dataclass


        @dataclass
        class Step:
            name: str
            x: int


        graph = nx.DiGraph()
        for step in (Step("first", 1), Step("second", 2)):
            graph.add_node(step.name, task=add.si(step.x, step.x))
        graph.add_edge("first", "second")
        ''')
    result = planner("plan", path)
    assert result.returncode == 0, result.stderr
    assert "first  tasks.add(1, 1)" in result.stdout
