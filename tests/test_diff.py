"""What changed between two plans (planner/diff.py), `plan --diff`, `render
--diff` (DOT laid out by the real ``dot``, Mermaid drawn by real Mermaid),
``REV:PATH`` read from a real git repository, and `render --check`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from celery import Celery
from mermaid_render import mermaid_blocks
from typer.testing import CliRunner

from planner.cli import app as app_cli
from planner.diff import diff_lines, plan_diff
from planner.planning import make_plan, signatures
from planner.render import NEW_EDGE_COLOUR, REMOVED_COLOUR, diagram, render_bytes, run_dot, to_dot, to_mermaid

# In this process the test projects load one after another, and Celery warns about each task name they share.
pytestmark = [pytest.mark.timeout(120), pytest.mark.filterwarnings("ignore:Task name .* is already registered")]

ROOT = Path(__file__).resolve().parent.parent
PLANNER = [sys.executable, "-m", "planner"]
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

app = Celery("diff_tests")


@app.task(name="difftest.fetch")
def fetch(day):
    return day


@app.task(name="difftest.clean")
def clean(rows, source="all"):
    return rows


@app.task(name="difftest.merge")
def merge(parts):
    return parts


@app.task(name="difftest.publish")
def publish(merged=None):
    return merged


def build(nodes: dict, edges: list) -> nx.DiGraph:
    """``nodes``: name → signature (or (signature, cost))."""
    graph = nx.DiGraph()
    for name, task in nodes.items():
        sig, cost = task if isinstance(task, tuple) else (task, None)
        graph.add_node(name, task=sig, **({} if cost is None else {"cost": cost}))
    graph.add_edges_from(edges)
    return graph


def compare(old: nx.DiGraph, new: nx.DiGraph, strategy: str = "auto"):
    return plan_diff(make_plan(old, strategy), make_plan(new, strategy), signatures(old), signatures(new))


def etl(**changes) -> nx.DiGraph:
    """fetch → (clean_a, clean_b) → merge → publish, with ``changes`` to nodes."""
    nodes = {"fetch": fetch.s("2026-11-24"), "clean_a": clean.s(source="a"), "clean_b": clean.s(source="b"),
             "merge": merge.s(), "publish": publish.s()}
    nodes.update(changes)
    return build(nodes, [("fetch", "clean_a"), ("fetch", "clean_b"), ("clean_a", "merge"), ("clean_b", "merge"),
                         ("merge", "publish")])


# -- the diff, a pure function --------------------------------------------------


def test_same_graph_no_change():
    d = compare(etl(), etl())
    assert not d.graph_changed and not d.plan_changed
    assert diff_lines(d) == ["no change: the same nodes, edges and plan"]
    assert d.as_dict()["nodes"] == {"added": [], "removed": [], "changed": [], "renamed": []}


def test_added_and_removed_nodes_and_edges():
    old = etl()
    new = etl()
    new.remove_node("publish")
    new.add_node("audit", task=publish.si())
    new.add_node("notify", task=publish.s(merged=1))  # not a rename of publish: other arguments
    new.add_edges_from([("merge", "audit"), ("merge", "notify"), ("fetch", "audit")])
    d = compare(old, new)
    assert d.added_nodes == ["audit", "notify"] and d.removed_nodes == ["publish"]
    assert d.added_edges == [("fetch", "audit"), ("merge", "audit"), ("merge", "notify")]
    assert d.removed_edges == [("merge", "publish")]
    assert d.changed_nodes == [] and d.renamed_nodes == []
    data = d.as_dict()
    assert data["edges"] == {"added": [["fetch", "audit"], ["merge", "audit"], ["merge", "notify"]],
                             "removed": [["merge", "publish"]]}
    lines = diff_lines(d)
    assert lines[0] == "nodes:  2 added (audit, notify), 1 removed (publish)"
    assert lines[1] == "edges:  3 added (fetch → audit, merge → audit, merge → notify), 1 removed (merge → publish)"
    json.dumps(data)  # JSON-ready


def test_changed_nodes_say_what_changed():
    new = etl(fetch=fetch.s("2026-11-25"), clean_a=clean.s(source="A"), merge=(merge.s(), 3),
              publish=publish.si(), clean_b=clean.s(source="b").set(queue="slow"))
    d = compare(etl(), new)
    changes = {c.name: c for c in d.changed_nodes}
    assert list(changes) == ["fetch", "clean_a", "clean_b", "merge", "publish"]  # the new graph's order
    assert changes["fetch"].fields == ("args",)
    assert changes["fetch"].old == {"args": ["2026-11-24"]} and changes["fetch"].new == {"args": ["2026-11-25"]}
    assert changes["clean_a"].fields == ("kwargs",) and changes["clean_a"].new == {"kwargs": {"source": "A"}}
    assert changes["clean_b"].fields == ("behaviour",) and changes["clean_b"].new["behaviour"]["queue"] == "slow"
    assert changes["merge"].fields == ("cost",) and (changes["merge"].old, changes["merge"].new) == (
        {"cost": 1.0}, {"cost": 3.0})
    assert changes["publish"].fields == ("immutable",)
    text = "\n".join(diff_lines(d))
    assert "  fetch: args ('2026-11-24') → ('2026-11-25')" in text
    assert "  clean_a: kwargs (source='a') → (source='A')" in text
    assert "  merge: cost 1 s → 3 s" in text
    assert "  publish: .s → .si" in text
    assert "  clean_b: Celery defaults → queue slow" in text
    assert d.added_nodes == d.removed_nodes == [] and d.added_edges == d.removed_edges == []
    assert [c["name"] for c in d.as_dict()["nodes"]["changed"]] == list(changes)
    assert d.as_dict()["nodes"]["changed"][0] == {"name": "fetch", "changed": ["args"],
                                                  "old": {"args": ["2026-11-24"]}, "new": {"args": ["2026-11-25"]}}


def test_a_node_that_becomes_a_map_node_is_changed():
    new = etl()
    new.nodes["clean_a"]["map"] = True
    d = compare(etl(), new)
    [change] = d.changed_nodes
    assert (change.name, change.fields, change.new) == ("clean_a", ("map",), {"map": True})
    assert "  clean_a: not map → map" in diff_lines(d)
    drawn = diagram(make_plan(new), diff=d)
    assert drawn.boxes["clean_a"].stacked and "was not a map node" in drawn.boxes["clean_a"].lines


def test_a_changed_task_is_told():
    d = compare(etl(), etl(publish=merge.s()))
    [change] = d.changed_nodes
    assert change.fields == ("task",) and change.old == {"task": "difftest.publish"}


def test_a_renamed_node_keeps_its_edges():
    old = etl()
    new = nx.relabel_nodes(etl(), {"clean_a": "clean_alpha"})
    d = compare(old, new)
    assert d.renamed_nodes == [("clean_a", "clean_alpha")]
    assert d.added_nodes == d.removed_nodes == [] and d.added_edges == d.removed_edges == []
    assert d.as_dict()["nodes"]["renamed"] == [{"old": "clean_a", "new": "clean_alpha"}]
    assert diff_lines(d)[0] == "nodes:  1 renamed (clean_a → clean_alpha)"


def test_renamed_neighbours_are_renamed_together():
    new = nx.relabel_nodes(etl(), {"merge": "combine", "publish": "announce"})
    d = compare(etl(), new)
    assert d.renamed_nodes == [("merge", "combine"), ("publish", "announce")]
    assert d.added_edges == d.removed_edges == []


def test_same_task_with_other_edges_is_not_a_rename():
    new = nx.relabel_nodes(etl(), {"publish": "announce"})
    new.add_edge("fetch", "announce")  # its edges do not map onto publish's
    d = compare(etl(), new)
    assert d.renamed_nodes == []
    assert d.added_nodes == ["announce"] and d.removed_nodes == ["publish"]
    assert d.removed_edges == [("merge", "publish")]
    assert set(d.added_edges) == {("merge", "announce"), ("fetch", "announce")}


def test_a_rename_that_falls_through_takes_its_neighbour_with_it():
    # merge → combine would be a rename, but publish became two nodes: combine's
    # edges no longer map onto merge's, so neither is a rename.
    new = nx.relabel_nodes(etl(), {"merge": "combine"})
    new.remove_node("publish")
    new.add_node("publish_a", task=publish.s())
    new.add_node("publish_b", task=publish.s())
    new.add_edges_from([("combine", "publish_a"), ("combine", "publish_b")])
    d = compare(etl(), new)
    assert d.renamed_nodes == []
    assert d.removed_nodes == ["merge", "publish"]


def test_nodes_with_the_same_task_are_told_apart_by_their_edges():
    def twins(first: str, second: str) -> nx.DiGraph:
        return build({"fetch": fetch.s("d"), "x": merge.s(), "y": merge.s(), first: publish.si(),
                      second: publish.si()}, [("fetch", "x"), ("fetch", "y"), ("x", first), ("y", second)])

    d = compare(twins("p", "q"), twins("p2", "q2"))
    assert d.renamed_nodes == [("p", "p2"), ("q", "q2")]
    d = compare(twins("p", "q"), twins("q2", "p2"))
    assert d.renamed_nodes == [("p", "q2"), ("q", "p2")]


def test_a_strategy_change_and_the_dependencies_it_adds():
    series_parallel = build({"a": fetch.s("x"), "b": fetch.s("y"), "c": merge.s(), "d": merge.s()},
                            [("a", "c"), ("b", "d")])
    n_shape = series_parallel.copy()
    n_shape.add_edge("a", "d")  # a→c, a→d, b→d: not series-parallel
    d = compare(series_parallel, n_shape)
    assert (d.old_strategy[0], d.new_strategy[0]) == ("canvas", "exact")
    assert d.added_edges == [("a", "d")]
    assert d.as_dict()["strategy"]["old"] == "canvas" and d.as_dict()["strategy"]["new"] == "exact"
    assert any(line.startswith("strategy:  canvas → exact (") for line in diff_lines(d))
    canvas = compare(series_parallel, n_shape, "canvas")
    assert canvas.new_strategy[0] == canvas.old_strategy[0] == "canvas"
    assert canvas.added_dependencies_new == [("b", "c")] and canvas.added_dependencies_gone == []
    assert canvas.as_dict()["added_dependencies"] == {"added": [["b", "c"]], "removed": []}
    assert "added dependencies:  1 more (b → c)" in diff_lines(canvas)
    back = compare(n_shape, series_parallel, "canvas")
    assert back.added_dependencies_gone == [("b", "c")]


def test_the_critical_path_change():
    d = compare(etl(), etl(clean_b=(clean.s(source="b"), 5)))
    assert d.old_critical_path == (["fetch", "clean_a", "merge", "publish"], 4.0)
    assert d.new_critical_path == (["fetch", "clean_b", "merge", "publish"], 8.0)
    assert d.as_dict()["critical_path"]["new"] == {"nodes": ["fetch", "clean_b", "merge", "publish"], "cost": 8.0}
    assert diff_lines(d)[-1] == ("critical path:  4 s → 8 s: fetch, clean_b, merge, publish "
                                 "(was fetch, clean_a, merge, publish)")


# -- drawing it ------------------------------------------------------------------


def reviewed():
    """A diff with one node of each kind of change, and edges added and removed."""
    new = nx.relabel_nodes(etl(fetch=fetch.s("2026-11-25")), {"clean_b": "clean_beta"})
    new.remove_node("publish")
    new.add_node("audit", task=publish.si())
    new.add_edge("merge", "audit")
    new.add_edge("fetch", "audit")
    old_plan, new_plan = make_plan(etl()), make_plan(new)
    return new_plan, plan_diff(old_plan, new_plan, signatures(etl()), signatures(new), "HEAD~1:etl.py", "etl.py")


def test_the_diagram_marks_every_change():
    plan, d = reviewed()
    drawn = diagram(plan, diff=d)
    changes = {box.id: box.change for box in drawn.boxes.values()}
    assert changes == {"fetch": "changed", "clean_a": None, "clean_beta": "renamed", "merge": None,
                       "audit": "added", "publish": "removed"}
    assert "was difftest.fetch('2026-11-24')" in drawn.boxes["fetch"].lines
    assert "renamed, was clean_b" in drawn.boxes["clean_beta"].lines
    assert drawn.removed.items == ["publish"]
    edges = {(e.tail, e.head): (e.style, e.change) for e in drawn.edges}
    assert edges[("merge", "publish")] == ("removed", None)
    assert edges[("fetch", "audit")][1] == "added" and edges[("merge", "audit")][1] == "added"
    assert edges[("fetch", "clean_a")][1] is None
    assert drawn.diff.startswith("against HEAD~1:etl.py: nodes: 1 added, 1 removed, 1 changed, 1 renamed")


def test_collapse_never_folds_a_marked_node():
    chain = [f"s{i}" for i in range(8)]
    old = build({name: publish.s() for name in chain}, list(zip(chain, chain[1:], strict=False)))
    new = old.copy()
    new.nodes["s4"]["task"] = publish.si()
    plan = make_plan(new)
    drawn = diagram(plan, collapse=True, diff=plan_diff(make_plan(old), plan, signatures(old), signatures(new)))
    assert drawn.boxes["s4"].change == "changed" and not drawn.boxes["s4"].folded
    assert sum(box.folded for box in drawn.boxes.values()) == 2  # s0..s3, s5..s7


@needs_dot
def test_dot_of_the_diff_is_laid_out_by_real_dot():
    plan, d = reviewed()
    source = to_dot(plan, diff=d)
    root = ET.fromstring(run_dot(source, "svg"))
    groups = list(root.iter(f"{SVG}g"))
    nodes = {g.find(f"{SVG}title").text: g for g in groups if g.get("class") == "node"}
    assert set(nodes) == {"fetch", "clean_a", "clean_beta", "merge", "audit", "publish"}
    edges = {g.find(f"{SVG}title").text: g for g in groups if g.get("class") == "edge"}
    assert "merge->publish" in edges and "fetch->audit" in edges
    assert edges["merge->publish"].find(f"{SVG}path").get("stroke") == REMOVED_COLOUR
    assert edges["merge->publish"].find(f"{SVG}path").get("stroke-dasharray")
    assert edges["fetch->audit"].find(f"{SVG}path").get("stroke") == NEW_EDGE_COLOUR
    removed = nodes["publish"]
    assert removed.find(f"{SVG}path").get("stroke-dasharray")  # dotted outline
    assert {t.text for t in removed.iter(f"{SVG}text")} >= {"publish", "removed"}
    clusters = {"".join(t.text or "" for t in g.iter(f"{SVG}text")): g for g in groups if g.get("class") == "cluster"}
    assert "removed: only in the old plan" in clusters
    legend = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for words in ("added: new in this plan", "renamed:", "removed: only in the old plan", "new edge",
                  "removed edge", "against HEAD~1:etl.py"):
        assert words in legend, words


def test_mermaid_of_the_diff_is_drawn_by_real_mermaid(real_mermaid):
    plan, d = reviewed()
    text = to_mermaid(plan, diff=d)
    drawing = real_mermaid.render(text).check()
    by_name = {node.lines[0]: node for node in drawing.nodes.values() if not node.id.startswith("legend")}
    assert set(by_name) == {"fetch", "clean_a", "clean_beta", "merge", "audit", "publish"}
    assert by_name["publish"].lines[-1] == "removed"
    assert by_name["clean_beta"].lines[-1] == "renamed, was clean_b"
    assert by_name["fetch"].lines[-2:] == ["changed:", "was difftest.fetch('2026-11-24')"]
    for name, change in [("publish", "removed"), ("audit", "added"), ("fetch", "changed"),
                         ("clean_beta", "renamed")]:
        assert change in by_name[name].classes, (name, by_name[name].classes)
    assert "removed: only in the old plan" in drawing.around(by_name["publish"].id)
    ids = {node.id: node.lines[0] for node in drawing.nodes.values()}
    edges = {(ids[e.tail], ids[e.head]): e for e in drawing.edges if not e.tail.startswith("legend")}
    assert edges[("merge", "publish")].dotted and REMOVED_COLOUR in edges[("merge", "publish")].style
    assert NEW_EDGE_COLOUR in edges[("fetch", "audit")].style
    assert not edges[("fetch", "clean_a")].style or NEW_EDGE_COLOUR not in edges[("fetch", "clean_a")].style
    assert "against HEAD~1:etl.py" in drawing.all_text


def test_markdown_of_the_diff_is_a_summary_then_the_mermaid_block(real_mermaid):
    plan, d = reviewed()
    text = to_mermaid(plan, markdown=True, diff=d)
    summary, _, _ = text.partition("```mermaid")
    assert summary.startswith("**planner**: what changed in the plan\n\n```text\netl.py against HEAD~1:etl.py\n")
    assert "nodes:  1 added (audit), 1 removed (publish), 1 renamed (clean_b → clean_beta), 1 changed" in summary
    [block] = mermaid_blocks(text)  # as GitHub finds it
    real_mermaid.render(block).check()


def test_markdown_summary_cannot_be_read_as_markdown():
    names = {"fetch": "@octocat #12 <b>x</b>", "clean_a": "```", "clean_b": "clean_b", "merge": "merge",
             "publish": "publish"}
    new = nx.relabel_nodes(etl(), names)
    new.add_node("````` `x`", task=publish.si())
    new.add_edge(names["merge"], "````` `x`")
    text = to_mermaid(make_plan(new), markdown=True, diff=plan_diff(make_plan(etl()), make_plan(new),
                                                                    signatures(etl()), signatures(new)))
    summary = text.partition("\n```mermaid\n")[0]
    fence = "`" * 6
    assert summary.startswith(f"**planner**: what changed in the plan\n\n{fence}text\n")
    assert summary.endswith(f"\n{fence}\n")
    assert summary.count(fence) == 2  # nothing inside closes the block: names stay text
    assert "@octocat #12 <b>x</b>" in summary


# -- the command line ------------------------------------------------------------


TASKS = '''
from celery import Celery

app = Celery("review")


@app.task(name="review.fetch")
def fetch(day):
    return day


@app.task(name="review.clean")
def clean(rows, source="all"):
    return rows


@app.task(name="review.merge")
def merge(parts):
    return parts
'''

GRAPH_V1 = '''
import networkx as nx
from tasks import clean, fetch, merge

graph = nx.DiGraph()
graph.add_node("fetch", task=fetch.s("2026-11-24"))
for source in ("a", "b"):
    graph.add_node(f"clean_{source}", task=clean.s(source=source))
    graph.add_edge("fetch", f"clean_{source}")
    graph.add_edge(f"clean_{source}", "merge")
graph.add_node("merge", task=merge.s())
'''

GRAPH_V2 = '''
import networkx as nx
from tasks import clean, fetch, merge

graph = nx.DiGraph()
graph.add_node("fetch", task=fetch.s("2026-11-25"))
for source in ("a", "b", "c"):
    graph.add_node(f"clean_{source}", task=clean.s(source=source))
    graph.add_edge("fetch", f"clean_{source}")
    graph.add_edge(f"clean_{source}", "merge")
graph.add_node("merge", task=merge.s(), cost=3)
'''


def planner(*args, cwd=ROOT, timeout=60, env=None):
    return subprocess.run([*PLANNER, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)


def assert_one_line_error(result, *fragments, code=2):
    assert result.returncode == code, result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def project(folder: Path, graph: str, tasks: str = TASKS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tasks.py").write_text(tasks)
    (folder / "graph.py").write_text(graph)
    return folder / "graph.py"


def test_plan_diff_of_two_files_text_and_json(tmp_path):
    old, new = project(tmp_path / "old", GRAPH_V1), project(tmp_path / "new", GRAPH_V2)
    result = planner("plan", new, "--diff", old)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning about the task names both versions share
    assert result.stdout.splitlines() == [
        f"{new} against {old}:",
        "nodes:  1 added (clean_c), 2 changed",
        "  fetch: args ('2026-11-24') → ('2026-11-25')",
        "  merge: cost 1 s → 3 s",
        "edges:  2 added (fetch → clean_c, clean_c → merge)",
        "strategy:  canvas (unchanged)",
        "added dependencies:  unchanged",
        "critical path:  3 s → 5 s: fetch, clean_a, merge",
    ]
    result = planner("plan", new, "--diff", old, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["plan"]["kind"] == "chain"  # the new plan, as plan --format json has it
    assert data["diff"]["nodes"]["added"] == ["clean_c"]
    assert data["diff"]["edges"] == {"added": [["fetch", "clean_c"], ["clean_c", "merge"]], "removed": []}
    assert [c["name"] for c in data["diff"]["nodes"]["changed"]] == ["fetch", "merge"]
    assert data["diff"]["critical_path"]["old"]["cost"] == 3.0
    assert_one_line_error(planner("plan", new, "--diff", old, "--format", "python"), "--diff", "text or json")
    assert_one_line_error(planner("plan", new, "--diff", tmp_path / "nope.py"), "--diff", "nope.py",
                          "no such graph file")


def test_graph_functions_get_the_parameters_they_take(tmp_path):
    old = project(tmp_path / "old", textwrap.dedent('''
        import networkx as nx
        from tasks import fetch

        def graph(day: str):
            g = nx.DiGraph()
            g.add_node("fetch", task=fetch.s(day))
            return g
        '''))
    new = project(tmp_path / "new", textwrap.dedent('''
        import networkx as nx
        from tasks import clean, fetch

        def graph(day: str, extra: bool = False):
            g = nx.DiGraph()
            g.add_node("fetch", task=fetch.s(day))
            if extra:
                g.add_node("clean", task=clean.s())
                g.add_edge("fetch", "clean")
            return g
        '''))
    result = planner("plan", new, "--diff", old, "--param", "day=2026-11-27", "--param", "extra=true")
    assert result.returncode == 0, result.stderr
    assert "nodes:  1 added (clean)" in result.stdout


def test_tasks_defined_in_the_graph_file_compare_equal(tmp_path):
    body = textwrap.dedent('''
        import networkx as nx
        from celery import Celery

        app = Celery("inline")


        @app.task
        def step(n):
            return n


        graph = nx.DiGraph()
        graph.add_node("one", task=step.s(1))
        ''')
    old = project(tmp_path / "old", body)
    new = project(tmp_path / "new", body + 'graph.add_node("two", task=step.s(2))\n')
    result = planner("plan", new, "--diff", old)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "nodes:  1 added (two)"  # `one` unchanged: its task is graph.step
    assert planner("plan", new).stdout.splitlines()[1].endswith("graph.step(1)")


@needs_dot
def test_render_diff_writes_every_format(tmp_path):
    old, new = project(tmp_path / "old", GRAPH_V1), project(tmp_path / "new", GRAPH_V2)
    for name in ("diff.svg", "diff.dot", "diff.mmd", "diff.md"):
        result = planner("render", new, "--diff", old, "-o", tmp_path / name)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"wrote {tmp_path / name}\n"
    assert "clean_c" in (tmp_path / "diff.svg").read_text()
    assert (tmp_path / "diff.md").read_text().startswith("**planner**: what changed in the plan\n")
    assert f'color="{NEW_EDGE_COLOUR}"' in (tmp_path / "diff.dot").read_text()


# -- REV:PATH from git ------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=env,
                          timeout=60).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository whose pipelines/graph.py (and its tasks.py) changed in
    the last commit: the old graph uses a task the new tasks.py dropped."""
    root = tmp_path / "repo"
    old_tasks = TASKS + '''

@app.task(name="review.legacy")
def legacy(parts):
    return parts
'''
    project(root / "pipelines", GRAPH_V1.replace("from tasks import clean, fetch, merge",
                                                 "from tasks import clean, fetch, legacy, merge")
            .replace('task=merge.s()', 'task=legacy.s()'), old_tasks)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "v1")
    project(root / "pipelines", GRAPH_V2)
    git(root, "commit", "-qam", "v2")
    return root


@needs_git
def test_rev_path_reads_the_graph_and_its_folder_at_the_revision(repo):
    result = planner("plan", "pipelines/graph.py", "--diff", "HEAD~1:pipelines/graph.py", cwd=repo)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "pipelines/graph.py against HEAD~1:pipelines/graph.py:"
    assert lines[1] == "nodes:  1 added (clean_c), 2 changed"  # legacy came from tasks.py at HEAD~1
    assert "  merge: task review.legacy → review.merge; cost 1 s → 3 s" in lines
    relative = planner("plan", "graph.py", "--diff", "HEAD~1:./graph.py", cwd=repo / "pipelines")
    assert relative.returncode == 0, relative.stderr
    assert relative.stdout.splitlines()[1:] == lines[1:]
    temporary = repo.parent / "tmp"
    temporary.mkdir()
    same = planner("plan", "pipelines/graph.py", "--diff", "HEAD:pipelines/graph.py", cwd=repo,
                   env={**os.environ, "TMPDIR": str(temporary)})
    assert same.stdout.splitlines()[1:] == ["no change: the same nodes, edges and plan"]
    assert list(temporary.iterdir()) == []  # the folder at the revision is removed after


@needs_git
def test_rev_path_renders_the_diff(repo, real_mermaid):
    result = planner("render", "pipelines/graph.py", "--diff", "HEAD~1:pipelines/graph.py", "-o", "diff.md", cwd=repo)
    assert result.returncode == 0, result.stderr
    text = (repo / "diff.md").read_text()
    assert "pipelines/graph.py against HEAD~1:pipelines/graph.py" in text
    [block] = mermaid_blocks(text)
    drawing = real_mermaid.render(block).check()
    assert "against HEAD~1:pipelines/graph.py" in drawing.all_text


@needs_git
def test_rev_path_errors_are_one_line(repo, tmp_path):
    def diff(spec, cwd=repo):
        return planner("plan", repo / "pipelines" / "graph.py", "--diff", spec, cwd=cwd)

    assert_one_line_error(diff("HEAD~9:pipelines/graph.py"), "--diff HEAD~9:pipelines/graph.py",
                          "'HEAD~9' is not a revision")
    assert_one_line_error(diff("HEAD~1:pipelines/other.py"), "'pipelines/other.py' is not in revision 'HEAD~1'")
    assert_one_line_error(diff("HEAD~1:pipelines"), "'pipelines' is a folder")
    assert_one_line_error(diff("HEAD~1:../outside.py"), "outside the repository")
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    assert_one_line_error(diff("HEAD~1:pipelines/graph.py", cwd=elsewhere), "not in a git repository")
    (repo / "pipelines" / "graph.py").write_text("import networkx as nx\ngraph = nx.DiGraph(\n")
    git(repo, "commit", "-qam", "broken")
    (repo / "pipelines" / "graph.py").write_text(GRAPH_V2)  # fixed in the working tree
    assert_one_line_error(diff("HEAD:pipelines/graph.py"), "HEAD:pipelines/graph.py:2: syntax error")
    (repo / "pipelines" / "graph.py").write_text("import networkx as nx\nfrom gone import x\n")
    git(repo, "commit", "-qam", "imports a module that is nowhere")
    (repo / "pipelines" / "graph.py").write_text(GRAPH_V2)
    assert_one_line_error(diff("HEAD:pipelines/graph.py"), "HEAD:pipelines/graph.py:2: cannot import 'gone'",
                          "the graph file's folder (HEAD:pipelines)")


# -- render --check ------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli():
    """``planner`` in this process (quicker than a new one for each call),
    sys.path and the ``tasks`` module as they were afterwards."""
    path, tasks = list(sys.path), sys.modules.get("tasks")

    def invoke(*args):
        return runner.invoke(app_cli, [str(a) for a in args])

    yield invoke
    sys.path[:] = path
    sys.modules.pop("tasks", None)
    if tasks is not None:
        sys.modules["tasks"] = tasks


def assert_one_line(result, *fragments, code):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_check_says_current_or_stale(tmp_path, cli):
    graph = project(tmp_path / "p", GRAPH_V1)
    for name in ("plan.dot", "plan.mmd", "plan.md"):
        out = tmp_path / name
        assert_one_line(cli("render", graph, "-o", out, "--check"), f"{out} does not exist", "planner render", code=1)
        assert not out.exists()
        assert cli("render", graph, "-o", out).exit_code == 0
        current = cli("render", graph, "-o", out, "--check")
        assert current.exit_code == 0, current.output
        assert current.stdout == f"{out} is current\n"
        out.write_bytes(out.read_bytes().replace(b"\n", b"\r\n"))  # checked out on Windows: still current
        assert cli("render", graph, "-o", out, "--check").exit_code == 0
    graph.write_text(GRAPH_V2)
    for name in ("plan.dot", "plan.mmd", "plan.md"):
        out = tmp_path / name
        before = out.read_bytes()
        assert_one_line(cli("render", graph, "-o", out, "--check"), f"{out} is stale",
                        f"(update it: planner render {graph} -o {out})", code=1)
        assert out.read_bytes() == before  # --check writes nothing


def test_check_refuses_binary_formats_and_stdout(tmp_path, cli):
    graph = project(tmp_path / "p", GRAPH_V1)
    for name in ("plan.svg", "plan.png", "plan.pdf"):
        assert_one_line(cli("render", graph, "-o", tmp_path / name, "--check"),
                        "--check compares text diagrams (.dot, .mmd, .md)", code=2)
        assert not (tmp_path / name).exists()
    assert_one_line(cli("render", graph, "-o", "-", "--check"), "--check compares with a file", code=2)
    assert_one_line(cli("render", graph, "-o", tmp_path / "plan.jpg", "--check"), "extension", code=2)


def test_check_of_a_diff_diagram(tmp_path, cli):
    old, new = project(tmp_path / "old", GRAPH_V1), project(tmp_path / "new", GRAPH_V2)
    out = tmp_path / "diff.md"
    assert cli("render", new, "--diff", old, "-o", out).exit_code == 0
    assert cli("render", new, "--diff", old, "-o", out, "--check").exit_code == 0
    stale = cli("render", new, "-o", out, "--check")  # the plan alone is not that diagram
    assert stale.exit_code == 1 and f"(update it: planner render {new} -o {out})" in stale.stderr
    stale = cli("render", new, "--diff", new, "-o", out, "--check")
    assert stale.exit_code == 1 and f"--diff {new})" in stale.stderr


def test_the_committed_docs_diagrams_are_current(cli):
    result = cli("render", ROOT / "examples" / "etl" / "graph.py", "-o", ROOT / "docs" / "etl.mmd", "--check")
    assert result.exit_code == 0, result.output


RENDER_ALL = """
import sys
from pathlib import Path
from planner.graphfile import load_graph
from planner.planning import make_plan
from planner.render import render_bytes

out = Path(sys.argv[1])
for number, graph in enumerate(sys.argv[2:]):
    plan = make_plan(load_graph(graph))
    for fmt in ("dot", "mermaid", "markdown"):
        (out / f"{number}.{fmt}").write_bytes(render_bytes(plan, fmt)[0])
"""


def test_text_diagrams_are_the_same_bytes_every_time(tmp_path):
    """The same graph gives the same bytes in another process (another hash
    seed, other task ids and module names): the examples, and tasks defined
    in the graph file itself."""
    inline = project(tmp_path / "inline", textwrap.dedent('''
        import networkx as nx
        from celery import Celery

        app = Celery("inline")


        @app.task
        def step(n):
            return n


        graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
        for node in graph:
            graph.nodes[node]["task"] = step.s(1) if node == "a" else step.s()
        '''))
    graphs = [*sorted((ROOT / "examples").glob("*/graph.py")), inline]
    for seed in ("1", "2"):
        (tmp_path / seed).mkdir()
        done = subprocess.run([sys.executable, "-c", RENDER_ALL, tmp_path / seed, *graphs], capture_output=True,
                              text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONHASHSEED": seed})
        assert done.returncode == 0, done.stderr
    first = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert len(first) == 3 * len(graphs)
    for name in first:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
    inline_dot = (tmp_path / "1" / f"{len(graphs) - 1}.dot").read_bytes()
    assert b"graph.step(1)" in inline_dot and b"_planner_graph" not in inline_dot


# -- the README's CI recipe -----------------------------------------------------------


def ci_script() -> str:
    """The shell of the README's "What changed in the plans" step."""
    readme = (ROOT / "README.md").read_text()
    step = readme[readme.index("- name: What changed in the plans"):]
    block = step[step.index("run: |\n") + len("run: |\n"):step.index("- name: Comment")]
    return textwrap.dedent(block)


@needs_git
def test_the_readme_ci_step_renders_each_changed_graph(tmp_path):
    origin = tmp_path / "origin"
    project(origin / "pipelines", GRAPH_V1)
    (origin / "pipelines" / "other.py").write_text(GRAPH_V1)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "add", ".")
    git(origin, "commit", "-qm", "base")
    pull = tmp_path / "pull"
    git(tmp_path, "clone", "-q", "--no-local", str(origin), str(pull))  # --no-local: a clone as CI makes
    git(pull, "checkout", "-qb", "feature")
    project(pull / "pipelines", GRAPH_V2, TASKS + "\n# changed too, and not a graph file\n")
    (pull / "pipelines" / "new.py").write_text(GRAPH_V2)
    git(pull, "add", ".")
    git(pull, "commit", "-qm", "feature")
    git(pull, "update-ref", "-d", "refs/remotes/origin/main")  # the CI checkout has only the pull request
    env = {**os.environ, "BASE": "main", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", ci_script()], cwd=pull, capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    text = (pull / "diff.md").read_text()
    assert text.count("**planner**: what changed in the plan") == 1  # graph.py only: other.py did not change
    assert "pipelines/graph.py against origin/main:pipelines/graph.py" in text
    assert "nodes:  1 added (clean_c), 2 changed" in text
    assert len(mermaid_blocks(text)) == 1


def test_mermaid_limits_are_told_of_the_diagram_not_the_summary():
    chain = [f"s{i}" for i in range(600)]
    old = build({name: publish.s() for name in chain}, list(zip(chain, chain[1:], strict=False)))
    new = nx.relabel_nodes(old, {"s0": "start"})
    plan = make_plan(new)
    found = plan_diff(make_plan(old), plan, signatures(old), signatures(new))
    markdown, warned = render_bytes(plan, "markdown", diff=found)
    assert markdown.startswith(b"**planner**: what changed in the plan")
    assert warned == render_bytes(plan, "mermaid", diff=found)[1] and "edges" in warned[0]
