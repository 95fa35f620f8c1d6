"""planner render: DOT, Mermaid and real ``dot`` SVGs of the examples and a
generated 500-node plan, checked by parsing what comes out (clusters, their
nesting, every node and every edge), and the command line."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from dags import random_dags
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.analysis import plan_canvas
from planner.cli import app
from planner.errors import PlannerError
from planner.graphfile import load_graph, validate
from planner.plan import Chord, Task, children, kind
from planner.planning import make_plan
from planner.render import diagram, render_file, to_dot, to_mermaid

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PLANNER = ROOT / ".venv" / "bin" / "planner"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def forget_example_tasks():
    """Every example has its own ``tasks`` module: forget the last one loaded
    (graph files import their sibling ``tasks``, which Python caches)."""
    sys.modules.pop("tasks", None)
    sys.path[:] = [p for p in sys.path if not p.startswith(str(EXAMPLES))]


@pytest.fixture(autouse=True)
def fresh_example_tasks():
    forget_example_tasks()
    yield
    forget_example_tasks()


def example(name: str, strategy: str = "auto"):
    forget_example_tasks()
    return make_plan(load_graph(EXAMPLES / name / "graph.py"), strategy)


def chain_tasks():
    spec = importlib.util.spec_from_file_location("_render_test_chain_tasks", EXAMPLES / "chain" / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pipeline_graph(n: int, seed: int = 3) -> nx.DiGraph:
    """``n`` nodes of examples/chain tasks: stages of parallel chains between
    fan-out/fan-in hubs, with N-shaped cross edges (added dependencies)."""
    tasks, rng = chain_tasks(), random.Random(seed)
    graph = nx.DiGraph()
    graph.add_node("n0", task=tasks.add.s(2, 3))
    hub, counter = "n0", iter(range(1, n))
    while len(graph) < n:
        chains = []
        for _ in range(rng.randint(2, 4)):
            chain, last = [], hub
            for _ in range(rng.randint(1, 6)):
                if len(graph) >= n - 1:
                    break
                node = f"n{next(counter)}"
                graph.add_node(node, task=tasks.multiply.s(10))
                graph.add_edge(last, node)
                chain.append(node)
                last = node
            if chain:
                chains.append(chain)
        long_chains = [c for c in chains if len(c) >= 2]
        if len(long_chains) >= 2 and rng.random() < 0.4:
            graph.add_edge(long_chains[0][0], long_chains[1][1])
        if len(graph) >= n:
            break
        tails = [c[-1] for c in chains] or [hub]
        hub = f"n{next(counter)}"
        graph.add_node(hub, task=tasks.log_done.si(hub) if rng.random() < 0.2 else tasks.multiply.s(10))
        graph.add_edges_from((tail, hub) for tail in tails)
    return graph


# -- what the plan says should be drawn -------------------------------------


def expected_nesting(plan) -> dict[str, list[str]]:
    """Node name → labels of the clusters around it, outermost first."""
    out: dict[str, list[str]] = {}
    stack = [(plan.root, [], "")]
    while stack:
        step, around, role = stack.pop()
        if isinstance(step, Task):
            out[step.name] = around
            continue
        inner = around + [role + kind(step)]
        if isinstance(step, Chord):
            stack += [(step.header, inner, "header: "), (step.body, inner, "body: ")]
        else:
            stack += [(sub, inner, "") for sub in children(step)]
    return out


def expected_edges(plan) -> tuple[set, set]:
    return {tuple(e) for e in plan.graph.edges}, {tuple(e) for e in plan.added}


# -- reading DOT -----------------------------------------------------------

DOT_NODE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" \[label=')
DOT_EDGE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(.*);$')


def unquote_dot(text: str) -> str:
    return text.replace('\\"', '"')


def read_dot(source: str):
    """(nesting: name → cluster labels, edges: {(tail, head): attributes}, clusters)."""
    nesting, edges, around, clusters = {}, {}, [], 0
    for line in source.splitlines():
        if re.match(r"^\s*subgraph cluster_\d+ \{$", line):
            around.append(None)
            clusters += 1
        elif around and around[-1] is None and (label := re.match(r'^\s*label="([^"]*)";', line)):
            around[-1] = label.group(1)
        elif line.strip() == "}" and around:
            around.pop()
        elif match := DOT_NODE.match(line):
            nesting[unquote_dot(match.group(1))] = list(around)
        elif match := DOT_EDGE.match(line):
            edges[(unquote_dot(match.group(1)), unquote_dot(match.group(2)))] = match.group(3)
    assert not around, "unbalanced subgraph braces"
    return nesting, edges, clusters


def check_dot(plan, source: str) -> None:
    nesting, edges, clusters = read_dot(source)
    assert nesting == expected_nesting(plan)
    assert clusters == sum(1 for _ in expected_clusters(plan))
    graph_edges, added = expected_edges(plan)
    assert set(edges) == graph_edges | added
    for edge in added - graph_edges:
        assert "style=dashed" in edges[edge] and 'label="added"' in edges[edge]
    for edge in graph_edges:
        assert "dashed" not in edges[edge]


def expected_clusters(plan):
    stack = [plan.root]
    while stack:
        step = stack.pop()
        if not isinstance(step, Task):
            yield step
            stack.extend(children(step))


# -- reading Mermaid -------------------------------------------------------

MERMAID_NODE = re.compile(r'^\s*(n\d+)\["(.*)"\]$')
MERMAID_EDGE = re.compile(r"^\s*(n\d+) (-->|==>|-\.->\|added\|) (n\d+)$")
ENTITIES = {"#quot;": '"', "#lt;": "<", "#gt;": ">", "#amp;": "&", "#96;": "`", "#10;": "\n", "#35;": "#"}


def unescape_mermaid(text: str) -> str:
    return re.sub(r"#(?:quot|lt|gt|amp|96|10|35);", lambda m: ENTITIES[m.group(0)], text)


def read_mermaid(text: str):
    """(nesting: name → subgraph labels, edges: {(tail, head): arrow}); the
    legend subgraph left out."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    names, nesting, edges, around = {}, {}, {}, []
    for line in lines[1:]:
        if match := re.match(r'^\s*subgraph (\w+) \["([^"]*)"\]$', line):
            around.append((match.group(1), match.group(2)))
        elif line.strip() == "end":
            around.pop()
        elif around and around[0][0] == "legend":
            continue
        elif match := MERMAID_NODE.match(line):
            name = unescape_mermaid(match.group(2).split("<br/>")[0])
            names[match.group(1)] = name
            nesting[name] = [label for _, label in around]
        elif match := MERMAID_EDGE.match(line):
            edges[(names[match.group(1)], names[match.group(3)])] = match.group(2)
        else:
            assert re.match(r"^\s*(classDef|class) ", line), f"unexpected Mermaid line: {line!r}"
    assert not around, "unbalanced subgraph/end"
    return nesting, edges


def check_mermaid(plan, text: str) -> None:
    nesting, edges = read_mermaid(text)
    assert nesting == expected_nesting(plan)
    graph_edges, added = expected_edges(plan)
    assert set(edges) == graph_edges | added
    assert all(edges[e] == "-.->|added|" for e in added - graph_edges)
    assert all(edges[e] in ("-->", "==>") for e in graph_edges)


# -- reading SVG -----------------------------------------------------------


def bbox(element) -> tuple[float, float, float, float]:
    """Bounding box of an SVG group's outline (polygon points or path data)."""
    shape = element.find(f"{SVG}polygon")
    if shape is None:
        shape = element.find(f"{SVG}path")
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points") or shape.get("d"))]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def inside(inner, outer) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def check_svg(plan, svg: bytes) -> None:
    """Every node drawn (title = name), every cluster labelled, and each node
    inside the outline of each cluster the plan puts it in."""
    root = ET.fromstring(svg)
    groups = list(root.iter(f"{SVG}g"))
    nodes = {g.find(f"{SVG}title").text: g for g in groups if g.get("class") == "node"}
    clusters = [g for g in groups if g.get("class") == "cluster"]
    assert set(nodes) == set(plan.graph)
    assert len(clusters) == sum(1 for _ in expected_clusters(plan))
    edge_titles = {g.find(f"{SVG}title").text for g in groups if g.get("class") == "edge"}
    graph_edges, added = expected_edges(plan)
    assert edge_titles == {f"{u}->{v}" for u, v in graph_edges | added}
    labelled: dict[str, list] = {}
    for cluster in clusters:
        label = "".join(t.text or "" for t in cluster.iter(f"{SVG}text"))
        labelled.setdefault(label, []).append(bbox(cluster))
    for name, around in expected_nesting(plan).items():
        box = bbox(nodes[name])
        for label in around:
            assert any(inside(box, outline) for outline in labelled[label]), (name, label)


# -- the examples ----------------------------------------------------------


def test_etl_dot_mermaid_and_svg():
    plan = example("etl")
    source = to_dot(plan)
    check_dot(plan, source)
    nesting, _, _ = read_dot(source)
    assert nesting["orders"] == ["chain", "chord", "header: group"]
    assert nesting["notify"] == ["chain", "chord", "body: chain"]
    assert "tasks.transform(\\'orders\\')" in source or "tasks.transform('orders')" in source
    check_mermaid(plan, to_mermaid(plan))


@needs_dot
def test_etl_svg(tmp_path):
    plan = example("etl")
    render_file(plan, tmp_path / "etl.svg")
    svg = (tmp_path / "etl.svg").read_bytes()
    check_svg(plan, svg)
    text = " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text"))
    assert "tasks.extract('2026-11-24')" in text and "critical path" in text


@needs_dot
def test_n_shape_draws_the_added_dependency_dashed_with_a_legend(tmp_path):
    plan = example("n_shape", "canvas")
    assert plan.added == (("b", "c"),)
    source = to_dot(plan)
    check_dot(plan, source)
    _, edges, _ = read_dot(source)
    assert "style=dashed" in edges[("b", "c")]
    assert "added: the plan waits" in source  # the legend
    mermaid = to_mermaid(plan)
    check_mermaid(plan, mermaid)
    assert "added: the plan waits" in mermaid
    render_file(plan, tmp_path / "n.svg")
    svg = (tmp_path / "n.svg").read_bytes()
    check_svg(plan, svg)
    added_edge = next(g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "edge"
                      and g.find(f"{SVG}title").text == "b->c")
    assert added_edge.find(f"{SVG}path").get("stroke-dasharray")


def test_critical_path_nodes_and_edges_are_highlighted():
    plan = example("etl")
    nesting, edges, _ = read_dot(to_dot(plan))
    assert "penwidth" in edges[("extract", "orders")] and "penwidth" in edges[("load", "notify")]
    assert "penwidth" not in edges[("extract", "customers")]
    _, mermaid_edges = read_mermaid(to_mermaid(plan))
    assert mermaid_edges[("orders", "load")] == "==>" and mermaid_edges[("customers", "load")] == "-->"


def test_si_and_gathered_nodes_are_marked():
    plan = example("chain")
    source = to_dot(plan)
    log_line = next(line for line in source.splitlines() if line.strip().startswith('"log"'))
    assert "takes no input (.si)" in log_line and "dashed" in log_line
    plan = example("n_shape", "canvas")
    assert "input gathered from a" in to_dot(plan) and "input gathered from a" in to_mermaid(plan)


def test_markdown_wraps_a_mermaid_block(tmp_path):
    plan = example("etl")
    render_file(plan, tmp_path / "plan.md")
    text = (tmp_path / "plan.md").read_text()
    assert text.startswith("```mermaid\nflowchart LR\n") and text.endswith("```\n")
    check_mermaid(plan, text.removeprefix("```mermaid\n").removesuffix("```\n"))
    render_file(plan, tmp_path / "plan.mmd")
    assert (tmp_path / "plan.mmd").read_text() == to_mermaid(plan)
    render_file(plan, tmp_path / "plan.dot")
    assert (tmp_path / "plan.dot").read_text() == to_dot(plan)


def test_unknown_extension_is_a_planner_error(tmp_path):
    with pytest.raises(PlannerError, match=r"\.svg, \.png, \.pdf, \.dot, \.mmd or \.md"):
        render_file(example("etl"), tmp_path / "plan.jpg")
    assert not (tmp_path / "plan.jpg").exists()


# -- states and durations (what planner run --render draws) ----------------


@needs_dot
def test_states_colour_the_boxes_and_durations_label_them(tmp_path):
    plan = example("n_shape")
    states = {"a": "SUCCESS", "b": "FAILURE", "c": "SKIPPED", "d": "PENDING"}
    durations = {"a": 1.25, "b": 0.5}
    source = to_dot(plan, states=states, durations=durations)
    lines = {name: next(line for line in source.splitlines() if line.strip().startswith(f'"{name}" ['))
             for name in "abcd"}
    assert 'fillcolor="#c8e6c9"' in lines["a"] and "SUCCESS · 1.25 s" in lines["a"]
    assert 'fillcolor="#ffcdd2"' in lines["b"] and "FAILURE · 500 ms" in lines["b"]
    assert 'fillcolor="#e0e0e0"' in lines["c"]
    assert 'fillcolor="#ffffff"' in lines["d"] and "PENDING" in lines["d"]  # anything else: neutral
    mermaid = to_mermaid(plan, states=states, durations=durations)
    check_mermaid(plan, mermaid)
    assert re.search(r"^  class n\d+ failure$", mermaid, re.M) and "SUCCESS · 1.25 s" in mermaid
    render_file(plan, tmp_path / "run.svg", states=states, durations=durations)
    root = ET.fromstring((tmp_path / "run.svg").read_bytes())
    fills = {g.find(f"{SVG}title").text: g.find(f"{SVG}path").get("fill")
             for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert fills == {"a": "#c8e6c9", "b": "#ffcdd2", "c": "#e0e0e0", "d": "#ffffff"}


# -- collapse --------------------------------------------------------------


def test_collapse_folds_long_chain_runs_and_reattaches_edges():
    graph = pipeline_graph(120)
    plan = make_plan(graph, "canvas")
    folded = diagram(plan, collapse=True)
    owner = {name: box.id for box in folded.boxes.values() for name in box.names}
    assert set(owner) == set(plan.graph)
    runs = [box for box in folded.boxes.values() if box.folded]
    assert runs and all(len(box.names) >= 3 for box in runs)
    for box in runs:
        assert box.lines[0] == f"{box.names[0]} → … → {box.names[-1]} ({len(box.names)} tasks)"
    # every dependency between different boxes is drawn between those boxes, and nothing else
    wanted = {(owner[u], owner[v]) for u, v in [*plan.graph.edges, *plan.added] if owner[u] != owner[v]}
    assert {(e.tail, e.head) for e in folded.edges} == wanted
    source = to_dot(plan, collapse=True)
    nesting, edges, _ = read_dot(source)
    assert set(nesting) == set(folded.boxes) and set(edges) == wanted
    assert len(nesting) < len(plan.graph)
    mermaid_nesting, mermaid_edges = read_mermaid(to_mermaid(plan, collapse=True).replace('[["', '["').replace('"]]', '"]'))
    assert len(mermaid_nesting) == len(folded.boxes) and len(mermaid_edges) == len(wanted)


def test_collapse_of_a_plain_chain_is_one_box_with_summed_state():
    plan = plan_canvas(nx.DiGraph([(f"s{i}", f"s{i + 1}") for i in range(9)]))
    states = {f"s{i}": "SUCCESS" for i in range(10)}
    folded = diagram(plan, states=states | {"s4": "FAILURE"}, durations={f"s{i}": 1.0 for i in range(10)},
                     collapse=True)
    [box] = folded.boxes.values()
    assert box.lines == ["s0 → … → s9 (10 tasks)", "FAILURE · 10 s"] and box.state == "FAILURE"
    short = plan_canvas(nx.DiGraph([("a", "b")]))
    assert [b.folded for b in diagram(short, collapse=True).boxes.values()] == [False, False]


# -- large plans -----------------------------------------------------------


@needs_dot
def test_500_node_plan_renders_to_a_checked_svg(tmp_path):
    graph = pipeline_graph(500)
    validate(graph)
    plan = make_plan(graph, "canvas")
    assert len(plan.graph) == 500 and plan.added
    check_dot(plan, to_dot(plan))
    check_mermaid(plan, to_mermaid(plan))
    render_file(plan, tmp_path / "big.svg")
    check_svg(plan, (tmp_path / "big.svg").read_bytes())
    render_file(plan, tmp_path / "big-collapsed.svg", collapse=True)
    root = ET.fromstring((tmp_path / "big-collapsed.svg").read_bytes())
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("class") == "node") == len(diagram(plan, collapse=True).boxes)


# -- awkward names ---------------------------------------------------------

AWKWARD = ['say "hi"', "end", "<x>", "a:b", "a -> b", "subgraph", "graph", "n0", "[(|{}|)]", "ünï 🙂",
           "#1;", "x&y", "back\\slash", "trail\\", "line\nbreak", "%%c", "`md`"]


def awkward_plan():
    graph = nx.DiGraph()
    for i, name in enumerate(AWKWARD):
        graph.add_node(name, label=f"tasks.t({name!r})", immutable=i % 4 == 0, cost=1.0)
    graph.add_edges_from(zip(AWKWARD, AWKWARD[1:], strict=False))
    graph.add_edges_from([(AWKWARD[0], AWKWARD[4]), (AWKWARD[2], AWKWARD[7]), (AWKWARD[3], AWKWARD[7])])
    return plan_canvas(graph)


def test_awkward_names_stay_exact_in_mermaid_and_dot():
    plan = awkward_plan()
    mermaid = to_mermaid(plan)
    check_mermaid(plan, mermaid)  # IDs are n0, n1...; names only inside quoted labels
    assert set(re.findall(r"^\s*([^\s[]+)\[", mermaid, re.M)) <= {f"n{i}" for i in range(len(AWKWARD))} | {
        f"legend{i}" for i in range(10)}
    source = to_dot(plan)
    nesting, edges, _ = read_dot(source)
    spelt = set(AWKWARD) - {"trail\\", "line\nbreak"}  # DOT cannot end a quoted ID with a backslash
    assert spelt <= set(nesting) and "trail/" in nesting  # ... so that one is drawn as 'trail/'
    assert '"line\nbreak" [label=' in source  # a raw newline is fine inside a quoted ID


@needs_dot
def test_awkward_names_survive_dot(tmp_path):
    plan = awkward_plan()
    render_file(plan, tmp_path / "awkward.svg")
    root = ET.fromstring((tmp_path / "awkward.svg").read_bytes())
    titles = {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    # the SVG writer turns entities and '%' in titles into its own spelling; the rest come out exact
    plain = {n for n in AWKWARD if "&" not in n and "%" not in n and n != "trail\\"}
    assert plain <= titles and len(titles) == len(AWKWARD)


# -- the command line ------------------------------------------------------

runner = CliRunner()


def cli(*args):
    forget_example_tasks()
    return runner.invoke(app, [str(a) for a in args])


@needs_dot
def test_cli_writes_svg_png_pdf_and_text_formats(tmp_path):
    etl = EXAMPLES / "etl" / "graph.py"
    for suffix, magic in [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"),
                          (".dot", b"digraph plan {"), (".mmd", b"flowchart LR"), (".md", b"```mermaid")]:
        result = cli("render", etl, "-o", tmp_path / f"etl{suffix}")
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"etl{suffix}").read_bytes().startswith(magic)
        assert result.output == f"wrote {tmp_path / f'etl{suffix}'}\n"
    check_svg(example("etl"), (tmp_path / "etl.svg").read_bytes())


def test_cli_stdout_formats_and_options(tmp_path):
    n_shape = EXAMPLES / "n_shape" / "graph.py"
    result = cli("render", n_shape, "-o", "-")
    assert result.exit_code == 0 and result.output == to_dot(example("n_shape"))
    result = cli("render", n_shape, "-o", "-", "--format", "mermaid", "--strategy", "canvas")
    assert result.exit_code == 0 and result.output == to_mermaid(example("n_shape", "canvas"))
    assert "-.->|added|" in result.output
    result = cli("render", n_shape, "--format", "dot", "--collapse", "--strategy", "exact")
    assert result.exit_code == 0 and result.output == to_dot(example("n_shape", "exact"), collapse=True)
    assert "strategy: exact" in result.output
    other = tmp_path / "other.py"
    other.write_text(
        "import networkx as nx\nfrom celery import Celery\napp = Celery('x')\n"
        "@app.task\ndef t(*a):\n    return a\n"
        "pipeline = nx.DiGraph()\npipeline.add_node('first', task=t.s())\npipeline.add_node('second', task=t.s())\n"
        "pipeline.add_edge('first', 'second')\n"
    )
    result = cli("render", other, "--graph", "pipeline", "-f", "mermaid")
    assert result.exit_code == 0, result.output
    assert read_mermaid(result.output)[1] == {("first", "second"): "==>"}


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    etl = EXAMPLES / "etl" / "graph.py"
    for args, fragment in [
        (["-o", tmp_path / "x.jpg"], "cannot tell the diagram format"),
        (["-o", "-", "--format", "png"], "goes to a file"),
        (["-o", tmp_path / "missing" / "x.dot"], "cannot write"),
    ]:
        result = cli("render", etl, *args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("planner: error:")


def test_missing_dot_binary_explains_how_to_install(tmp_path):
    """A PATH without dot: SVG fails in one line, DOT and Mermaid still work."""
    assert PLANNER.exists()
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    etl = EXAMPLES / "etl" / "graph.py"

    def run(*args):
        return subprocess.run([str(PLANNER), "render", str(etl), *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=60)

    for suffix in (".svg", ".png", ".pdf"):
        done = run("-o", tmp_path / f"etl{suffix}")
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "apt-get install graphviz" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / f"etl{suffix}").exists()
    for suffix in (".dot", ".mmd", ".md"):
        done = run("-o", tmp_path / f"etl{suffix}")
        assert done.returncode == 0, done.stderr
    done = run("-f", "mermaid")
    assert done.returncode == 0 and done.stdout.startswith("flowchart LR")


def test_committed_examples_are_current():
    """docs/etl.svg and docs/n_shape.svg (--strategy canvas, to show the
    added dependency) were drawn from the examples."""
    for name in ("etl", "n_shape"):
        svg = (ROOT / "docs" / f"{name}.svg").read_bytes()
        root = ET.fromstring(svg)
        titles = {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
        assert titles == set(example(name).graph)


def test_cli_warns_when_mermaid_has_more_edges_than_renderers_draw(tmp_path):
    long_chain = tmp_path / "long.py"
    long_chain.write_text(
        "import networkx as nx\nfrom celery import Celery\napp = Celery('x')\n"
        "@app.task\ndef step(*a):\n    return 1\n"
        "graph = nx.DiGraph()\nfor i in range(600):\n    graph.add_node(f's{i}', task=step.s())\n"
        "graph.add_edges_from((f's{i}', f's{i + 1}') for i in range(599))\n"
    )
    result = subprocess.run([str(PLANNER), "render", str(long_chain), "-o", str(tmp_path / "long.md")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "warning: 600 edges" in result.stderr and "--collapse" in result.stderr
    result = subprocess.run([str(PLANNER), "render", str(long_chain), "-f", "mermaid", "--collapse"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert "s0 → … → s599 (600 tasks)" in result.stdout


@settings(max_examples=60, deadline=None)
@given(graph=random_dags(max_nodes=40), collapse=st.booleans())
def test_random_dags_draw_every_node_edge_and_cluster(graph, collapse):
    plan = plan_canvas(nx.relabel_nodes(graph, str))
    if not collapse:
        check_dot(plan, to_dot(plan))
        check_mermaid(plan, to_mermaid(plan))
        return
    folded = diagram(plan, collapse=True)
    owner = {name: box.id for box in folded.boxes.values() for name in box.names}
    wanted = {(owner[u], owner[v]) for u, v in [*plan.graph.edges, *plan.added] if owner[u] != owner[v]}
    nesting, edges, _ = read_dot(to_dot(plan, collapse=True))
    assert set(nesting) == set(folded.boxes) and set(edges) == wanted


def test_deeply_nested_plans_draw_without_recursion_trouble():
    graph = nx.DiGraph()
    for i in range(600):  # x0 → (y0 | (x1 → (y1 | ...))): nesting depth grows with size
        graph.add_edge(f"x{i}", f"y{i}")
        graph.add_edge(f"x{i}", f"x{i + 1}")
    plan = plan_canvas(graph)
    check_dot(plan, to_dot(plan))
    check_mermaid(plan, to_mermaid(plan))
