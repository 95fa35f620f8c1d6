"""`planner lint` reads graph files without running them (issue 14, item 1):
no code of a linted graph file or of its task modules runs, the static
reader finds exactly what importing finds (every graph of ``examples/``
and of the fixtures, and random graph files written in the usual forms),
what it cannot read is a note naming ``--import-graphs``, and reading is
bounded (no hang, no memory blow-up on hostile input)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.lint.graphs import is_graph_file

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"
READ = FIXTURES / "read"
BOMB = FIXTURES / "side_effects"
PLANNER = ROOT / ".venv" / "bin" / "planner"
COMMAND = [str(PLANNER)] if PLANNER.exists() else [sys.executable, "-m", "planner"]

# Graph files whose graph the static reader cannot know, and why (the rest must be read exactly).
NOT_READ = {"environment_loop.py": "the loop runs over `os.environ.get("}
NOT_FULLY_CHECKED = {"runtime_argument.py": "node 'a' partly checked: its argument(s) json.loads("}


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def lint(*args):
    return CliRunner().invoke(app, ["lint", *map(str, args)])


def report(*args) -> dict:
    result = lint(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert result.exit_code == (1 if data["findings"] else 0)
    return data


def graph_files() -> list[Path]:
    found = sorted(ROOT.glob("examples/*/graph*.py"))
    for folder in (FIXTURES / "graphs", READ):
        found += sorted(p for p in folder.iterdir()
                        if p.suffix in (".py", ".json") and not p.stem.startswith(("read_", "lint_graph")))
    return found


# --- nothing runs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["folder", "file", "json", "function"])
def test_graph_file_is_linted_without_running_it(tmp_path, monkeypatch, target):
    """graph_bomb.py (and bomb_tasks.py, the module it imports) write a
    marker when imported, graph_function_bomb.py also when its graph
    function is called; lint finds the graphs' PLN100 all the same."""
    marker = tmp_path / "imported"
    monkeypatch.setenv("PLANNER_LINT_MARKER", str(marker))
    path = {"folder": BOMB, "file": BOMB / "graph_bomb.py", "json": BOMB / "graph_bomb.json",
            "function": BOMB / "graph_function_bomb.py"}[target]
    found = [(Path(f["path"]).name, f["line"], f["code"]) for f in report(path)["findings"]]
    expected = {"graph_bomb.py": ("graph_bomb.py", 14, "PLN100"), "graph_bomb.json": ("graph_bomb.json", 4, "PLN100"),
                "graph_function_bomb.py": ("graph_function_bomb.py", 18, "PLN100")}
    for name, finding in expected.items():
        assert (finding in found) == (target == "folder" or path.name == name)
    assert not marker.exists() and not Path(f"{marker}.tasks").exists() and not Path(f"{marker}.function").exists()


def test_installed_command_runs_nothing_it_lints(tmp_path):
    marker = tmp_path / "imported"
    done = subprocess.run([*COMMAND, "lint", str(BOMB)], capture_output=True, text=True, timeout=90, cwd=ROOT,
                          env={**os.environ, "PLANNER_LINT_MARKER": str(marker)})
    assert done.returncode == 1, done.stderr
    assert "graph_bomb.py:14:1: PLN100" in done.stdout
    assert not marker.exists() and not Path(f"{marker}.tasks").exists()


def test_import_graphs_runs_the_graph_file(tmp_path, monkeypatch):
    """The opt-in does what it says (and proves the marker works)."""
    marker = tmp_path / "imported"
    monkeypatch.setenv("PLANNER_LINT_MARKER", str(marker))
    found = report(BOMB / "graph_bomb.py", "--import-graphs")["findings"]
    assert [(f["line"], f["code"]) for f in found] == [(14, "PLN100")]
    assert marker.read_text() == "graph file imported!"
    assert Path(f"{marker}.tasks").exists()
    found = report(BOMB / "graph_function_bomb.py", "--import-graphs")["findings"]
    assert [(f["line"], f["code"]) for f in found] == [(18, "PLN100")]
    assert Path(f"{marker}.function").read_text() == "graph function called!"


# --- the same findings as importing ------------------------------------------------------------------------

@pytest.mark.parametrize("path", graph_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_static_reading_finds_what_importing_finds(path):
    """Every graph of examples/ and of the fixtures: the same findings
    (code, line, column, message) read statically as imported; a note only
    where the graph depends on the run (listed above)."""
    if path.suffix == ".py" and path.name not in ("no_graph_attribute.py", "other_name.py"):  # not vacuous
        assert is_graph_file(path.read_text(), ast.parse(path.read_text())), path
    static = report(path)
    imported = report(path, "--import-graphs")
    assert static["findings"] == imported["findings"]
    assert imported["notes"] == []
    expected_note = NOT_READ.get(path.name) or NOT_FULLY_CHECKED.get(path.name)
    if expected_note is None:
        assert static["notes"] == []
    else:
        (note,) = static["notes"]
        assert expected_note in note["message"] and "--import-graphs" in note["message"]


def test_fixtures_cover_what_planner_plan_refuses():
    """The read/ fixtures hold every kind of graph-file error planner plan
    reports, and the forms graph files are written in."""
    messages = " | ".join(f["message"] for f in report(READ)["findings"] if f["code"] == "PLN100")
    for fragment in ("RuntimeError: boom", "cannot import name 'missing'", "the graph is empty",
                     "has a cycle", "has no 'task'", "got PromiseProxy", "got Proxy", "got function",
                     "single task signature, got a chain", "got a group", "not JSON-serializable",
                     "cannot take the upstream result", "unexpected keyword argument 'tiemout'",
                     "missing a required argument: 'url'", "have the same name '1'", "NameError: name 'ad'",
                     "KeyError: 'missing'", "ZeroDivisionError", "AssertionError: no graph today",
                     "NetworkXError: The node zz is not in the digraph", "must be a 2-tuple or 3-tuple",
                     "attempted relative import", "'read_tasks.helper' is not a Celery task",
                     "'read_tasks.nothing_here' is not a Celery task",
                     "task must be 'module.task_name'", "module 'read_tasks' has no attribute 'renamed_away'",
                     "ValueError: cycle through ['a', 'b']", "the graph file called sys.exit(0) while being imported",
                     "environment problem, the graph file may be fine: cannot import 'shop_nowhere'",
                     "add(x, y) cannot be called with (1, 2, 3)", "graph() raised KeyError: 'b'",
                     "graph() called sys.exit(3): a graph function must return the DiGraph",
                     "the graph must be a networkx.DiGraph, got NoneType",
                     "graph(): parameter 'limits' is annotated dict: planner converts str, int, float",
                     "NetworkXError: Frozen graph can't be modified"):
        assert fragment in messages, fragment


TASKS = (READ / "read_tasks.py").read_text()
# name -> (parameters Celery binds: positional names, required count)
SIGNATURES = {"add": 2, "multiply": 2, "log_done": 1, "bound": 1}


@st.composite
def graph_sources(draw):
    """A graph file written in one of the usual forms, over a random
    graph (sometimes with a cycle) whose nodes get random signatures:
    .s() or .si(), too few, just enough or too many arguments, now and
    then a node without task or an argument that is not JSON."""
    size = draw(st.integers(1, 7))
    names = [f"n{i}" for i in range(size)]
    edges = sorted({(names[i], names[j]) for i in range(size) for j in range(i + 1, size)
                    if draw(st.integers(0, 3)) == 0})
    if size > 1 and draw(st.integers(0, 5)) == 0:
        edges.append((names[-1], names[0]))  # a cycle
    tasks = {}
    for name in names:
        if draw(st.integers(0, 12)) == 0:
            continue  # no task
        task = draw(st.sampled_from(sorted(SIGNATURES)))
        count = max(0, SIGNATURES[task] - draw(st.integers(-1, 2)))
        args = [repr(draw(st.sampled_from([1, "x", 2.5, [1, 2], {"k": 1}, None]))) for _ in range(count)]
        if draw(st.integers(0, 15)) == 0:
            args.append("{1, 2}")  # not JSON
        method = draw(st.sampled_from(["s", "si"]))
        tasks[name] = f"{task}.{method}({', '.join(args)})"
    form = draw(st.sampled_from(["literal", "specs", "from_lists", "edge_list", "helper", "function"]))
    lines = ["import networkx as nx", "from read_tasks import add, multiply, log_done, bound", ""]
    if form == "function":  # a graph function: its defaults give the nodes, its body builds the graph
        lines += [f"def graph(names={names!r}, edges={edges!r}):", "    g = nx.DiGraph()", "    for name in names:",
                  "        g.add_node(name)", "    g.add_edges_from(edges)"]
        lines += [f"    g.nodes[{n!r}]['task'] = {tasks[n]}" for n in names if n in tasks]
        lines.append("    return g")
    elif form == "literal":
        lines.append("graph = nx.DiGraph()")
        for name in names:
            lines.append(f"graph.add_node({name!r}, task={tasks[name]})" if name in tasks else
                         f"graph.add_node({name!r})")
        lines += [f"graph.add_edge({u!r}, {v!r})" for u, v in edges]
    elif form == "specs":
        lines.append("STEPS = {" + ", ".join(f"{n!r}: {tasks[n]}" for n in names if n in tasks) + "}")
        lines.append(f"AFTER = {dict((v, [u for u, w in edges if w == v]) for v in names)!r}")
        lines += ["graph = nx.DiGraph()", f"graph.add_nodes_from({names!r})", "for name, sig in STEPS.items():",
                  "    graph.nodes[name]['task'] = sig", "for name, before in AFTER.items():",
                  "    for b in before:", "        graph.add_edge(b, name)"]
    elif form == "from_lists":
        pairs = ", ".join(f"({n!r}, {{'task': {tasks[n]}}})" if n in tasks else f"({n!r}, {{}})" for n in names)
        lines += ["graph = nx.DiGraph()", f"graph.add_nodes_from([{pairs}])", f"graph.add_edges_from({edges!r})"]
    elif form == "edge_list":
        lines += [f"graph = nx.DiGraph({edges!r})", f"graph.add_nodes_from({names!r})"]
        lines += [f"graph.nodes[{n!r}]['task'] = {tasks[n]}" for n in names if n in tasks]
    else:
        lines += ["def step(name, sig=None, after=()):", "    if sig is None:", "        graph.add_node(name)",
                  "    else:", "        graph.add_node(name, task=sig)", "    for before in after:",
                  "        graph.add_edge(before, name)", "", "", "graph = nx.DiGraph()"]
        for name in names:
            after = [u for u, v in edges if v == name and names.index(u) < names.index(name)]
            sig = tasks.get(name, "None")
            lines.append(f"step({name!r}, {sig}, after={after!r})")
        lines += [f"graph.add_edge({u!r}, {v!r})" for u, v in edges if names.index(u) > names.index(v)]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=graph_sources())
def test_random_graph_files_read_statically_as_imported(source):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "read_tasks.py").write_text(TASKS)
        path = Path(folder) / "graph.py"
        path.write_text(source)
        static = report(path)
        imported = report(path, "--import-graphs")
    assert static["findings"] == imported["findings"], source
    assert static["notes"] == [], source


# --- what the reader cannot see ----------------------------------------------------------------------------

def test_what_cannot_be_read_is_a_note_not_a_finding():
    path = READ / "environment_loop.py"
    result = lint(path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("tests/fixtures/lint/read/environment_loop.py:8:1: note: graph checks skipped: the "
                               "loop runs over `os.environ.get(")
    assert "--import-graphs" in lines[0] and "runs its code" in lines[0]
    assert lines[-1] == "All checks passed! (1 note: not everything could be checked)"
    sarif = json.loads(lint(path, "--format", "sarif").stdout)["runs"][0]
    assert sarif["results"] == []
    (notification,) = sarif["invocations"][0]["toolExecutionNotifications"]
    assert notification["level"] == "note" and "--import-graphs" in notification["message"]["text"]
    assert notification["locations"][0]["physicalLocation"]["region"]["startLine"] == 8
    assert lint(path, "--format", "github").stdout.startswith("::notice title=planner (note%3A not checked),file=")
    # the opt-in reads what the environment gives
    assert report(path, "--import-graphs") == {"findings": [], "notes": []}


def test_tasks_the_reader_cannot_find_are_a_note(tmp_path):
    """A task made by calling the decorator (not a decorated function) is
    not found statically: its arity is a note, the rest is checked."""
    (tmp_path / "jobs.py").write_text("from celery import Celery\napp = Celery('j')\n\n\ndef _crunch(a, b):\n"
                                      "    return a\n\n\ncrunch = app.task(_crunch)\n")
    (tmp_path / "graph.py").write_text(textwrap.dedent("""\
        import networkx as nx
        from jobs import crunch

        graph = nx.DiGraph()
        graph.add_node("a", task=crunch.s(1, 2, 3))
    """))
    data = report(tmp_path / "graph.py")
    assert data["findings"] == []
    (note,) = data["notes"]
    assert note["line"] == 5
    assert "task 'jobs.crunch' is not a decorated function lint can find" in note["message"]
    imported = report(tmp_path / "graph.py", "--import-graphs")["findings"]
    assert [(f["line"], f["code"]) for f in imported] == [(5, "PLN100")]  # what the note leaves to the opt-in


def test_project_tasks_are_found_where_planner_plan_finds_them(tmp_path, monkeypatch):
    """A graph importing its tasks from the project's package: not found
    from elsewhere (an environment problem, as planner plan says), found
    once the package is on the path — read, not imported."""
    (tmp_path / "src" / "proj").mkdir(parents=True)
    (tmp_path / "src" / "proj" / "__init__.py").write_text("")
    (tmp_path / "src" / "proj" / "jobs.py").write_text(
        "from celery import shared_task\n\n@shared_task\ndef scale(value, factor):\n    return value * factor\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "graph.py").write_text(
        "import networkx as nx\nfrom proj.jobs import scale\ngraph = nx.DiGraph()\n"
        "graph.add_node('a', task=scale.s(1, 2))\ngraph.add_node('b', task=scale.s(1, 2))\ngraph.add_edge('a', 'b')\n")
    (missing,) = report(tmp_path / "pipelines")["findings"]
    assert missing["line"] == 2 and missing["message"].startswith(
        "environment problem, the graph file may be fine: cannot import 'proj'")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    found = report(tmp_path / "pipelines")
    assert [(f["line"], f["code"]) for f in found["findings"]] == [(5, "PLN100")] and found["notes"] == []
    assert found["findings"] == report(tmp_path / "pipelines", "--import-graphs")["findings"]


def test_the_linted_files_are_the_last_place_a_module_is_looked_for(tmp_path):
    from planner.lint.sources import Modules

    jobs = tmp_path / "elsewhere" / "proj" / "jobs.py"
    jobs.parent.mkdir(parents=True)
    jobs.write_text("from celery import shared_task\n\n@shared_task\ndef scale(value, factor):\n    return value\n")
    modules = Modules(lambda parts: [jobs] if parts == ("proj", "jobs") else [])
    assert modules.find("proj.jobs", tmp_path) == jobs
    assert str(modules.task("proj.jobs", "scale", tmp_path).parameters) == "(value, factor)"
    assert Modules().find("proj.jobs", tmp_path) is None


@pytest.mark.parametrize("body, reason", [
    ("while True:\n    pass\n", "steps to follow"),
    ("for i in range(10 ** 12):\n    graph.add_node(i)\n", "is too large to follow statically"),
    ("def deeper(n):\n    return deeper(n + 1)\n\n\ndeeper(graph)\n", "too deeply"),
    ("names = ['x' * 10 ** 6] * 10 ** 7\nfor n in names:\n    graph.add_node(n)\n", "computed at run time"),
    ("graph.add_node('{:>999999999}'.format(1))\n", "computed at run time"),
    ("graph.add_node(10 ** 10 ** 10)\n", "computed at run time"),
    ("exec('graph.add_node(1)')\n", "runs code the reader does not follow"),
])
def test_hostile_graph_files_are_not_followed_far(tmp_path, body, reason):
    """Reading is bounded in steps, sizes and depth: a hostile file gives a
    note within seconds, never a hang or a huge allocation."""
    path = tmp_path / "graph.py"
    path.write_text("import networkx as nx\ngraph = nx.DiGraph()\n" + body)
    started = time.monotonic()
    data = report(path)
    assert time.monotonic() - started < 60
    (note,) = data["notes"]
    assert reason in note["message"], note["message"]


def test_graph_attribute_option_reads_another_name(tmp_path):
    found = report(FIXTURES / "graphs" / "other_name.py", "--graph", "workflow")["findings"]
    assert [(f["line"], f["code"]) for f in found] == [(6, "PLN101")]
    shutil.copy(READ / "read_tasks.py", tmp_path)
    (tmp_path / "nightly.py").write_text(NIGHTLY.replace("def graph(day: date,", "def workflow(day=date(2026, 11, 27),"))
    for how in ((), ("--import-graphs",)):
        found = report(tmp_path / "nightly.py", "--graph", "workflow", *how)["findings"]
        assert [(f["line"], f["code"]) for f in found] == [(12, "PLN100")]
    assert report(tmp_path / "nightly.py") == {"findings": [], "notes": []}  # no 'graph': not a graph file


def test_nodes_added_in_loops_are_located_and_noqa_works(tmp_path):
    """A finding about a node added in a loop points at its add_node call,
    where a ``# noqa`` keeps it quiet."""
    shutil.copy(READ / "read_tasks.py", tmp_path)
    source = (READ / "si_segment_in_a_loop.py").read_text()
    (tmp_path / "graph.py").write_text(source)
    (finding,) = report(tmp_path / "graph.py")["findings"]
    assert (finding["line"], finding["column"], finding["code"]) == (6, 5, "PLN101")
    line = "    graph.add_node(day, task=log_done.si(day))"
    (tmp_path / "graph.py").write_text(source.replace(line, line + "  # noqa: PLN101"))
    assert report(tmp_path / "graph.py")["findings"] == []


# --- graph functions, and graph attributes not assigned a DiGraph(...) directly ---------------------------

NIGHTLY = '''\
from datetime import date

import networkx as nx
from read_tasks import add, log_done


def graph(day: date, regions: list[str] = ["eu", "us"], copies: int = 1) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("report", task=log_done.s())
    for region in regions:
        g.add_node(f"fetch_{region}", task=log_done.si(day.isoformat()))
        g.add_node(f"charge_{region}", task=add.s(copies, 2))
        g.add_edge(f"fetch_{region}", f"charge_{region}")
        g.add_edge(f"charge_{region}", "report")
    return g
'''


def test_graph_function_with_a_required_parameter_is_read_with_it_unknown(tmp_path):
    """The README's form: lint calls graph() with its defaults, the required
    ``day`` unknown — the arity bug is found, what depends on ``day`` is a
    note. --import-graphs cannot call it without --param: a note."""
    shutil.copy(READ / "read_tasks.py", tmp_path)
    path = tmp_path / "nightly.py"
    path.write_text(NIGHTLY)
    data = report(path)
    assert [(f["line"], f["code"]) for f in data["findings"]] == [(12, "PLN100")]
    assert "node 'charge_eu': add(x, y) cannot take the upstream result plus (1, 2)" in data["findings"][0]["message"]
    assert [(n["line"], n["message"].split(":")[0]) for n in data["notes"]] == [
        (11, "node 'fetch_eu' partly checked"), (11, "node 'fetch_us' partly checked")]
    assert "day.isoformat() are computed at run time" in data["notes"][0]["message"]
    imported = report(path, "--import-graphs")
    assert imported["findings"] == []
    (note,) = imported["notes"]
    assert note["line"] == 7
    assert note["message"] == ("graph checks skipped: graph(): parameter 'day' (date) is required: give --param "
                               "day=2026-11-27 (--import-graphs calls a graph function with its defaults only)")
    # the graph's shape depends on a required parameter: a note that says so
    path.write_text(NIGHTLY.replace('regions: list[str] = ["eu", "us"]', "regions: list[str]"))
    data = report(path)
    assert data["findings"] == []
    (note,) = data["notes"]
    assert note["line"] == 10 and "the loop runs over `regions`, computed at run time" in note["message"]
    assert "required parameter(s) day, regions have no value here" in note["message"]


@pytest.mark.parametrize("source, reason, line", [
    ("from helpers import build\n\ngraph = build()\n", "'graph' is assigned `build()`, computed at run time", 4),
    ("from pipelines import graph\n", "'graph' is imported from pipelines, which the reader does not run", 2),
    ("import functools\n\n\n@functools.cache\ndef graph():\n    return nx.DiGraph()\n",
     "'graph' is a decorated function, which the reader does not run", 6),
    ("def graph():\n    return build_elsewhere()\n\n\nfrom helpers import build_elsewhere\n",
     "graph() returns `build_elsewhere()`, computed at run time", 2),
    ("base = nx.DiGraph()\nbase.add_node('a')\ngraph = base.reverse()\n",
     "`base.reverse()` is not a graph method the reader follows", 4),
    ("from helpers import build\nbase = nx.DiGraph()\ngraph = nx.compose(base, build())\n",
     "`nx.compose(base, build())` builds a graph from what is computed at run time", 4),
])
def test_a_graph_built_by_code_the_reader_does_not_run_is_a_note(tmp_path, source, reason, line):
    """A file that defines ``graph`` never goes unchecked without a word."""
    (tmp_path / "helpers.py").write_text("def build():\n    pass\n\n\ndef build_elsewhere():\n    pass\n")
    (tmp_path / "pipelines.py").write_text("from helpers import build\n\ngraph = build()\n")
    path = tmp_path / "graph.py"
    path.write_text("import networkx as nx\n" + source)
    data = report(path)
    assert data["findings"] == []
    (note,) = data["notes"]
    assert reason in note["message"] and "--import-graphs" in note["message"], note["message"]
    assert note["line"] == line
    assert report(tmp_path, "--ignore", "PLN0")["notes"][0]["message"] == note["message"]  # met while walking too


@pytest.mark.parametrize("source, expected", [
    ("import networkx as nx\ngraph = nx.DiGraph()\n", True),
    ("import networkx as nx\ng = nx.DiGraph()\ngraph = g\n", True),
    ("import networkx as nx\ntry:\n    graph = nx.DiGraph()\nexcept ImportError:\n    pass\n", True),
    ("import networkx as nx\nif True:\n    graph = nx.DiGraph()\n", True),
    ("import networkx as nx\n\n\ndef graph(day='x'):\n    return nx.DiGraph()\n", True),
    ("import networkx as nx\nfrom base import graph\n", True),
    ("import networkx as nx\ngraph = build()\n", True),
    ("import networkx as nx\n\n\ndef build():\n    graph = nx.DiGraph()\n    return graph\n", False),
    ("import networkx as nx\nworkflow = nx.DiGraph()\n", False),
    ("graph = build()\n", False),  # mentions neither networkx nor DiGraph: not a graph file
])
def test_which_python_files_are_graph_files(source, expected):
    assert is_graph_file(source, ast.parse(source)) is expected
