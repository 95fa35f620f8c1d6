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
import textwrap
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from dags import random_dags, series_parallel_dags
from hypothesis import given, settings
from hypothesis import strategies as st
from mermaid_render import mermaid_blocks, read_svg
from typer.testing import CliRunner

from planner.analysis import plan_canvas
from planner.cli import app
from planner.errors import PlannerError
from planner.graphfile import load_graph, validate
from planner.plan import Chain, Chord, Group, Task, children, kind
from planner.planning import make_plan
from planner.render import (
    ADDED_COLOUR,
    MERMAID_LINE_MAX,
    cut_line,
    diagram,
    mermaid_edge_count,
    mermaid_length,
    mermaid_warnings,
    render_file,
    to_dot,
    to_mermaid,
)

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
        elif isinstance(step, Chain):  # a group followed by more work is a chord header
            last = len(step.steps) - 1
            stack += [(sub, inner, "chord header: " if isinstance(sub, Group) and i < last else "")
                      for i, sub in enumerate(step.steps)]
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

MERMAID_ARROW = re.compile(r" (-->|==>|-\.->(?:\|[^|]*\|)?|~~~) ")
MERMAID_NODE = re.compile(r'^ *(\w+)(\[\[?)"(.*)"\]\]?$')
MERMAID_STACKED = re.compile(r'^ *(\w+)@\{ shape: procs, label: "(.*)" \}$')  # a map node
MERMAID_STYLES = re.compile(r"^(classDef|class|linkStyle|click) ")


def unescape_mermaid(label: str) -> list[str]:
    """A label's lines as a reader should see them: entities decoded, the
    spaces and joiners the writer added to keep Mermaid's hands off undone."""
    text = re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label.replace("<br/>", "\n"))
    return text.replace("\xa0", " ").replace("\u200c", "").split("\n")


def shown(lines: list[str], cut: bool = True) -> list[str]:
    """What a box's lines should look like drawn: each cut to
    ``MERMAID_LINE_MAX`` characters, newlines as line breaks, and characters
    that would hide or reorder text (controls, bidi, other invisible format
    characters) spelt as Python spells them."""
    def spell(char: str) -> str:
        category = unicodedata.category(char)
        invisible = category in ("Cc", "Cs", "Zl", "Zp") or (
            category == "Cf" and char != "\u200d" and not "\U000e0020" <= char <= "\U000e007f")
        return "\\" + ascii(char)[2:-1] if invisible and char != "\n" else char

    return ["".join(map(spell, part)) for line in lines for part in (cut_line(line) if cut else line).split("\n")]


def drawing_order(d) -> list:
    """The diagram's boxes in the order the Mermaid writer numbers them (n0, n1...)."""
    out, stack = [], [d.root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(d.boxes[item])
        else:
            stack.extend(reversed(item.items))
    return out


def read_mermaid(text: str):
    """(nodes: id → (label lines, folded, cluster labels outermost first),
    edges: {(tail id, head id): arrow}, style lines). A line that is none of
    these fails the reading."""
    if text.startswith("```mermaid\n"):
        assert text.endswith("```\n") and text.count("```") == 2
        text = text.removeprefix("```mermaid\n").removesuffix("```\n")
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes, edges, styles, around = {}, {}, [], []
    for line in lines[1:]:
        if match := re.match(r'^ *subgraph (\w+) \["([^"]*)"\]$', line):
            around.append(unescape_mermaid(match.group(2))[0])
        elif line.strip() == "end":
            around.pop()
        elif line.strip() == "direction LR":
            continue
        elif match := MERMAID_NODE.match(line):
            nodes[match.group(1)] = (unescape_mermaid(match.group(3)), match.group(2) == "[[", list(around))
        elif match := MERMAID_STACKED.match(line):
            nodes[match.group(1)] = (unescape_mermaid(match.group(2)), False, list(around))
        elif MERMAID_STYLES.match(line):
            styles.append(line)
        else:
            parts = MERMAID_ARROW.split(line.strip())
            assert len(parts) >= 3, f"unexpected Mermaid line: {line!r}"
            for tails, arrow, heads in zip(parts[0::2], parts[1::2], parts[2::2], strict=False):
                for tail in tails.split(" & "):
                    for head in heads.split(" & "):
                        assert (tail, head) not in edges, f"edge drawn twice: {tail} -> {head}"
                        edges[(tail, head)] = arrow
    assert not around, "unbalanced subgraph/end"
    return nodes, edges, styles


def mermaid_edges_by_name(plan) -> dict[tuple[str, str], str]:
    """The plan's Mermaid edges as {(tail name, head name): arrow}."""
    ids = {f"n{i}": box.id for i, box in enumerate(drawing_order(diagram(plan)))}
    _, edges, _ = read_mermaid(to_mermaid(plan))
    return {(ids[tail], ids[head]): arrow for (tail, head), arrow in edges.items() if tail in ids}


def check_mermaid(plan, text: str, mermaid=None, states=None, durations=None, collapse: bool = False):
    """The text draws exactly the plan: each box (its label, its clusters),
    each edge with its arrow, the legend apart, and no edge or box more. With
    ``mermaid`` (the real renderer), the same is read back from the SVG it
    draws: see :func:`check_drawing`. Returns the drawing, or None."""
    d = diagram(plan, states, durations, collapse)
    boxes = drawing_order(d)
    ids = {box.id: f"n{i}" for i, box in enumerate(boxes)}
    nodes, edges, styles = read_mermaid(text)
    plan_nodes = {node_id: node for node_id, node in nodes.items() if not node_id.startswith("legend")}
    assert set(plan_nodes) == set(ids.values())
    nesting = expected_nesting(plan)
    for box in boxes:
        lines, folded, around = plan_nodes[ids[box.id]]
        assert lines == shown(box.lines) and folded == box.folded
        assert all(around == nesting[name] for name in box.names), box.id
    arrows = {"dependency": "-->", "critical": "==>", "added": "-.->|added|"}
    wanted = {(ids[e.tail], ids[e.head]): arrows[e.style] for e in d.edges}
    assert {e: a for e, a in edges.items() if not e[0].startswith("legend")} == wanted
    if not collapse:
        graph_edges, added = expected_edges(plan)
        box_of = {node_id: box_id for box_id, node_id in ids.items()}
        assert {(box_of[tail], box_of[head]) for tail, head in wanted} == graph_edges | added
    assert all(a == "~~~" for e, a in edges.items() if e[0].startswith("legend"))
    assert all(line.startswith(("classDef ", "class ", "linkStyle ", "click ")) for line in styles)
    return check_drawing(d, boxes, text, mermaid.render(text)) if mermaid is not None else None


def refusals(mermaid, text: str) -> set[str]:
    """Which of its limits real Mermaid enforces on ``text`` (a text over at
    least one of them: one that fits would be laid out, slowly if large)."""
    found = set()
    if "Edge limit exceeded" in (mermaid.parse(text) or ""):
        found.add("edges")
    if "Maximum text size in diagram exceeded" in mermaid.render(text).all_text:
        found.add("characters")
    return found


def warned(text: str) -> set[str]:
    """The limits :func:`mermaid_warnings` says ``text`` passes."""
    return {re.match(r"[\d,]+ (edges|characters): ", w).group(1) for w in mermaid_warnings(text)}


def check_drawing(d, boxes, text, drawing):
    """What real Mermaid drew: no error box; every box with its label as
    :func:`shown` says, inside the outlines of the clusters it belongs to;
    every edge, thick or dotted as its style says, pointing right (the layout
    is left to right, clusters included); long lines cut, the whole text in
    the tooltip; the legend below the plan."""
    drawing.check()
    ids = {box.id: f"n{i}" for i, box in enumerate(boxes)}
    nodes, edges, _ = read_mermaid(text)
    assert set(drawing.nodes) == set(nodes)
    for box in boxes:
        node = drawing.nodes[ids[box.id]]
        assert [line.replace("\xa0", " ").replace("\u200c", "") for line in node.lines] == shown(box.lines)
        lines, _, around = nodes[ids[box.id]]
        assert [label for label in drawing.around(node.id) if label != "legend"] == around, box.id
        if any(cut_line(line) != line for line in box.lines):
            assert node.tooltip.replace("\xa0", " ") == "\n".join(shown(box.lines, cut=False))
        else:
            assert node.tooltip is None
    drawn = {(e.tail, e.head): e for e in drawing.edges}
    assert set(drawn) == set(edges)
    for edge in d.edges:
        line = drawn[(ids[edge.tail], ids[edge.head])]
        assert line.thick == (edge.style == "critical") and line.dotted == (edge.style == "added")
        tail, head = drawing.nodes[line.tail], drawing.nodes[line.head]
        assert head.x > tail.x, f"{line.tail} -> {line.head} does not point right"
    legend = drawing.clusters["legend"]
    assert {n for n in drawing.nodes if n.startswith("legend")} == {n.id for n in drawing.nodes.values()
                                                                     if legend.holds(n)}
    plan_nodes = [n for n in drawing.nodes.values() if not n.id.startswith("legend")]
    if isinstance(d.root, str):  # a single box: Mermaid puts the legend above it
        assert legend.y + legend.height < plan_nodes[0].y
    else:
        assert legend.y > max(n.y + n.height / 2 for n in plan_nodes), "the legend is not below the plan"
    return drawing


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


def test_etl_dot_mermaid_and_svg(mermaid_renderer):
    plan = example("etl")
    source = to_dot(plan)
    check_dot(plan, source)
    nesting, _, _ = read_dot(source)
    assert nesting["orders"] == ["chain", "chord header: group"]
    assert nesting["notify"] == ["chain"]
    assert "tasks.transform(\\'orders\\')" in source or "tasks.transform('orders')" in source
    check_mermaid(plan, to_mermaid(plan), mermaid_renderer)


@needs_dot
def test_etl_svg(tmp_path):
    plan = example("etl")
    render_file(plan, tmp_path / "etl.svg")
    svg = (tmp_path / "etl.svg").read_bytes()
    check_svg(plan, svg)
    text = " ".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text"))
    assert "tasks.extract('2026-11-24')" in text and "critical path" in text


@needs_dot
def test_n_shape_draws_the_added_dependency_dashed_with_a_legend(tmp_path, mermaid_renderer):
    plan = example("n_shape", "canvas")
    assert plan.added == (("b", "c"),)
    source = to_dot(plan)
    check_dot(plan, source)
    _, edges, _ = read_dot(source)
    assert "style=dashed" in edges[("b", "c")]
    assert "added: the plan waits" in source  # the legend
    mermaid = to_mermaid(plan)
    drawing = check_mermaid(plan, mermaid, mermaid_renderer)
    assert "added: the plan waits" in mermaid
    if drawing:  # the added edge is orange, as in the legend
        [added] = [e for e in drawing.edges if e.dotted]
        assert ADDED_COLOUR in added.style and ADDED_COLOUR in drawing.nodes["legend1"].label_style
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
    assert mermaid_edges_by_name(plan) == {
        ("extract", "orders"): "==>", ("orders", "load"): "==>", ("load", "notify"): "==>",
        ("extract", "customers"): "-->", ("extract", "products"): "-->",
        ("customers", "load"): "-->", ("products", "load"): "-->"}


def test_si_and_gathered_nodes_are_marked():
    plan = example("chain")
    source = to_dot(plan)
    log_line = next(line for line in source.splitlines() if line.strip().startswith('"log"'))
    assert "takes no input (.si)" in log_line and "dashed" in log_line
    plan = example("n_shape", "canvas")
    assert "input gathered from a" in to_dot(plan) and "input gathered from a" in to_mermaid(plan)


def test_markdown_wraps_a_mermaid_block(tmp_path, mermaid_renderer):
    plan = example("etl")
    render_file(plan, tmp_path / "plan.md")
    text = (tmp_path / "plan.md").read_text()
    assert text.startswith("```mermaid\nflowchart LR\n") and text.endswith("```\n")
    [block] = mermaid_blocks(text)  # as GitHub finds it
    check_mermaid(plan, block, mermaid_renderer)
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
    render_file(plan, tmp_path / "run.svg", states=states, durations=durations)
    root = ET.fromstring((tmp_path / "run.svg").read_bytes())
    fills = {g.find(f"{SVG}title").text: g.find(f"{SVG}path").get("fill")
             for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert fills == {"a": "#c8e6c9", "b": "#ffcdd2", "c": "#e0e0e0", "d": "#ffffff"}


def test_states_colour_the_mermaid_boxes(mermaid_renderer):
    plan = example("n_shape")
    states = {"a": "SUCCESS", "b": "FAILURE", "c": "SKIPPED", "d": "PENDING"}
    durations = {"a": 1.25, "b": 0.5}
    mermaid = to_mermaid(plan, states=states, durations=durations)
    assert "SUCCESS · 1.25 s" in mermaid and "FAILURE · 500 ms" in mermaid
    drawing = check_mermaid(plan, mermaid, mermaid_renderer, states, durations)
    if drawing:  # each box filled as its state says; the legend's samples likewise
        boxes = {box.id: f"n{i}" for i, box in enumerate(drawing_order(diagram(plan, states, durations)))}
        fills = {name: re.search(r"fill:(#\w+)", drawing.nodes[boxes[name]].styles).group(1) for name in "abcd"}
        assert fills == {"a": "#c8e6c9", "b": "#ffcdd2", "c": "#e0e0e0", "d": "#ffffff"}
        legend = {node.lines[0]: re.search(r"fill:(#\w+)", node.styles).group(1)
                  for node in drawing.nodes.values() if node.id.startswith("legend") and "fill:#" in node.styles}
        assert {k: legend[k] for k in ("SUCCESS", "FAILURE", "SKIPPED", "other")} == {
            "SUCCESS": "#c8e6c9", "FAILURE": "#ffcdd2", "SKIPPED": "#e0e0e0", "other": "#ffffff"}


@pytest.mark.timeout(180)
def test_run_render_writes_the_coloured_mermaid_of_the_run(tmp_path, mermaid_renderer):
    """``planner run --render run.md`` on the embedded worker, as the user runs
    it: the block draws, every box green with its duration, the legend's states."""
    out = tmp_path / "run.md"
    done = subprocess.run([str(PLANNER), "run", str(EXAMPLES / "etl" / "graph.py"), "--local", "--quiet",
                           "--render", str(out)], capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    [block] = mermaid_blocks(out.read_text())
    assert block.count("SUCCESS · ") == 6
    if mermaid_renderer:
        drawing = mermaid_renderer.render(block).check()
        boxes = [node for node in drawing.nodes.values() if not node.id.startswith("legend")]
        assert len(boxes) == 6 and all("fill:#c8e6c9" in node.styles for node in boxes)
        assert all(re.fullmatch(r"SUCCESS · [\d.<]+ m?s", node.lines[-1]) for node in boxes)
        assert {"SUCCESS", "FAILURE", "SKIPPED", "other"} <= {node.lines[0] for node in drawing.nodes.values()}


# -- collapse --------------------------------------------------------------


def test_collapse_folds_long_chain_runs_and_reattaches_edges(mermaid_renderer):
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
    drawing = check_mermaid(plan, to_mermaid(plan, collapse=True), mermaid_renderer, collapse=True)
    if drawing:
        assert "folded chain steps" in [node.lines[0] for node in drawing.nodes.values()]


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
    render_file(plan, tmp_path / "big.svg")
    check_svg(plan, (tmp_path / "big.svg").read_bytes())
    render_file(plan, tmp_path / "big-collapsed.svg", collapse=True)
    root = ET.fromstring((tmp_path / "big-collapsed.svg").read_bytes())
    assert sum(1 for g in root.iter(f"{SVG}g") if g.get("class") == "node") == len(diagram(plan, collapse=True).boxes)


def test_600_node_plan_in_mermaid_warns_and_collapses_under_the_limits(mermaid_renderer):
    """Whole, the plan is over both of Mermaid's limits: the warnings say so,
    and real Mermaid indeed refuses it. Collapsed, it is under both, and
    Mermaid parses it (drawing it takes Mermaid a minute: smaller pipelines
    are drawn below). (600 nodes: the flat plan tree indents less, so 500
    nodes are under 50,000 characters now.)"""
    plan = make_plan(pipeline_graph(600), "canvas")
    whole = to_mermaid(plan)
    check_mermaid(plan, whole)
    edges, chars = mermaid_warnings(whole)
    assert edges.startswith(f"{mermaid_edge_count(whole)} edges") and "more than 500" in edges
    assert chars.startswith(f"{mermaid_length(whole):,} characters") and "50,000" in chars
    collapsed = to_mermaid(plan, collapse=True)
    assert mermaid_warnings(collapsed) == []
    check_mermaid(plan, collapsed, collapse=True)
    if mermaid_renderer:
        assert mermaid_renderer.parse(collapsed) is None
        assert refusals(mermaid_renderer, whole) == warned(whole) == {"edges", "characters"}


@pytest.mark.parametrize("collapse", [False, True])
def test_pipeline_plans_draw_in_real_mermaid(mermaid_renderer, collapse):
    plan = make_plan(pipeline_graph(60), "canvas")
    assert plan.added
    check_mermaid(plan, to_mermaid(plan, collapse=collapse), mermaid_renderer, collapse=collapse)


# -- awkward names ---------------------------------------------------------

AWKWARD = ['say "hi"', "end", "<x>", "a:b", "a -> b", "subgraph", "graph", "n0", "[(|{}|)]", "ünï 🙂",
           "#1;", "x&y", "back\\slash", "trail\\", "line\nbreak", "%%c", "`md`"]
#: Names Mermaid would read as something else, found by drawing them with real Mermaid: directives,
#: comments, entities (its own placeholders too), HTML, Markdown, KaTeX, icons, its style-line rewriting,
#: escapes, spaces it trims, characters that hide or reorder text, and statements of its own syntax.
MERMAID_AWKWARD = [
    *AWKWARD, "%%{init: {'theme':'dark'}}%%", "%%{wrap}%%", "100%%{done", "%% comment", "50%", "fa:fa-car",
    "fab:fa-github", "$$x^2$$", "$x$", "**bold**", "_it_", "~~s~~", "- item", "1. item", "# head", "> quote",
    "[link](http://x)", "<b>b</b>", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "&nbsp;",
    "&amp;", "&#35;", "#quot;", "#35;", "ﬂ°°35¶ß", "ﬂ°amp¶ß", "style:x#y;z", "classDef x:#f00;", "style: a#b;",
    "\\n", "a\tb", "a\rb", "a\x00b", "a\x1bb", "rtl\u202etxt", "lr\u2066i\u2069", "a\u2028b", "\ufeffbom",
    "zero\u200bwidth", " lead", "trail ", "two  spaces", "👨\u200d👩\u200d👧", "中文字", "é", "click",
    "direction", "style", "linkStyle", "classDef", "call", "default", "n1 --> n2", "a;b", ";", "|x|",
    "cluster_1", "c0", "legend", "legend0", "n3",
    "@{ shape: circle }", ":::cls", "---", "()", "{}", "[[x]]", "'", "x" * 300, "y " * 150,
    "extract_customer_records_for_the_quarterly_report_2026_11_24_part_0001",
]


def awkward_plan(names=AWKWARD):
    graph = nx.DiGraph()
    for i, name in enumerate(names):
        graph.add_node(name, label=f"tasks.t({name!r})", immutable=i % 4 == 0, cost=1.0)
    graph.add_edges_from(zip(names, names[1:], strict=False))
    graph.add_edges_from([(names[0], names[4]), (names[2], names[7]), (names[3], names[7])])
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


def test_real_mermaid_draws_every_awkward_name_literally(real_mermaid):
    """Every name drawn as it is spelt (its task call too, and in full in the
    tooltip when cut), nothing turned into a directive, icon, formula, tag or
    link, and the diagram otherwise unchanged (default theme, every box and
    edge there: see check_mermaid)."""
    plan = awkward_plan(MERMAID_AWKWARD)
    mermaid = to_mermaid(plan)
    drawing = check_mermaid(plan, mermaid, real_mermaid)
    assert "%%" not in mermaid and "fa:fa" not in mermaid and "$$" not in mermaid
    assert all("<script" not in line and "<img" not in line for line in drawing.svg.splitlines())
    theme = re.search(r"#planner-diagram\{font-family:[^}]*fill:(#\w+)", drawing.svg)
    assert theme and theme.group(1) == "#333", "the theme changed"  # %%{init: dark}%% would make it #ccc
    cut = [node for node in drawing.nodes.values() if node.tooltip]
    assert len(cut) == 3 and all("…" in node.lines[0] for node in cut)


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


def test_cli_mermaid_files_draw_in_real_mermaid(tmp_path, mermaid_renderer):
    """.mmd and .md (the block GitHub finds in it) are the same diagram, and it draws."""
    for strategy in ("auto", "canvas"):
        for suffix in (".mmd", ".md"):
            result = cli("render", EXAMPLES / "n_shape" / "graph.py", "--strategy", strategy,
                         "-o", tmp_path / f"plan{suffix}")
            assert result.exit_code == 0 and result.output == f"wrote {tmp_path / f'plan{suffix}'}\n"
        text = (tmp_path / "plan.mmd").read_text()
        assert mermaid_blocks((tmp_path / "plan.md").read_text()) == [text]
        check_mermaid(example("n_shape", strategy), text, mermaid_renderer)


def test_cli_stdout_formats_and_options(tmp_path, mermaid_renderer):
    n_shape = EXAMPLES / "n_shape" / "graph.py"
    result = cli("render", n_shape, "-o", "-")
    assert result.exit_code == 0 and result.output == to_dot(example("n_shape"))
    result = cli("render", n_shape, "-o", "-", "--format", "mermaid", "--strategy", "canvas")
    assert result.exit_code == 0 and result.output == to_mermaid(example("n_shape", "canvas"))
    assert "-.->|added|" in result.output
    check_mermaid(example("n_shape", "canvas"), result.output, mermaid_renderer)
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
    assert "first<br/>" in result.output and "second<br/>" in result.output
    if mermaid_renderer:
        drawing = mermaid_renderer.render(result.output).check()
        assert [(drawing.nodes[e.tail].lines[0], drawing.nodes[e.head].lines[0], e.thick)
                for e in drawing.edges if not e.invisible] == [("first", "second", True)]


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
    added dependency) were drawn from the examples; docs/etl.mmd is the ETL
    example's Mermaid, and docs/etl-mermaid.svg what real Mermaid (mmdc)
    drew of it, read back as the suite reads its own drawings."""
    for name in ("etl", "n_shape"):
        svg = (ROOT / "docs" / f"{name}.svg").read_bytes()
        root = ET.fromstring(svg)
        titles = {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
        assert titles == set(example(name).graph)
    plan = example("etl")
    text = (ROOT / "docs" / "etl.mmd").read_text()
    assert text == to_mermaid(plan)
    d = diagram(plan)
    drawing = read_svg(text, (ROOT / "docs" / "etl-mermaid.svg").read_text(), svg_id="my-svg")
    check_drawing(d, drawing_order(d), text, drawing)


def graph_file(path: Path, body: str) -> Path:
    """A graph file of one Celery task ``step`` and the graph ``body`` builds."""
    path.write_text("import networkx as nx\nfrom celery import Celery\napp = Celery('x')\n"
                    "@app.task(name='step')\ndef step(*a):\n    return 1\n"
                    "graph = nx.DiGraph()\n" + textwrap.dedent(body))
    return path


def test_cli_warns_at_each_mermaid_limit(tmp_path):
    """One line per limit passed, naming it and the way out, on stderr; the
    diagram is still written; nothing when it fits."""
    long_chain = graph_file(tmp_path / "long.py", """\
        for i in range(600):
            graph.add_node(f's{i}', task=step.s())
        graph.add_edges_from((f's{i}', f's{i + 1}') for i in range(599))
        """)
    wide = graph_file(tmp_path / "wide.py", """\
        for i in range(450):
            graph.add_node(f'{i:03d}-' + 'x' * 56, task=step.s('y' * 40))
        """)
    for graph, args, said in [(long_chain, ["-o", tmp_path / "long.md"], r"600 edges: .* more than 500 "),
                              (wide, ["-o", "-", "-f", "mermaid"], r"5\d,\d{3} characters: .* over 50,000 ")]:
        result = subprocess.run([str(PLANNER), "render", str(graph), *map(str, args)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0
        [line] = result.stderr.splitlines()
        assert re.match(f"planner: warning: {said}", line), line
        assert "--collapse" in line and ".svg" in line
    assert (tmp_path / "long.md").exists()
    result = subprocess.run([str(PLANNER), "render", str(long_chain), "-f", "mermaid", "--collapse"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert "s0 → … → s599 (600 tasks)" in result.stdout


def sized_plan(target: int):
    """A plan (a group of independent tasks) whose Mermaid text is exactly
    ``target`` UTF-16 units long: names of emoji, 2 units each in JavaScript
    but one character in Python, so the count is Mermaid's, not len()."""
    graph = nx.DiGraph()
    names = [f"{i:03d}" for i in range(target // 200)]
    graph.add_nodes_from((name, {"label": "🙂" * MERMAID_LINE_MAX}) for name in names)
    missing = target - mermaid_length(to_mermaid(plan_canvas(graph)))
    assert missing > 0
    grown = {}
    for name in names:  # each character added to a name adds its own length to the text
        room = MERMAID_LINE_MAX - len(name)
        extra = "🙂" * min(room, missing // 2)
        missing -= 2 * len(extra)
        if missing % 2 and len(extra) < room:
            extra, missing = extra + "x", missing - 1
        grown[name] = name + extra
    assert missing == 0
    plan = plan_canvas(nx.relabel_nodes(graph, grown))
    assert mermaid_length(to_mermaid(plan)) == target
    return plan


def test_mermaid_warnings_fire_exactly_where_real_mermaid_gives_up(real_mermaid):
    """500 edges (the legend's included) parse, 501 are refused; 50,000
    characters draw, 50,001 become Mermaid's error box. The warnings agree."""
    for n, refused in [(500, False), (501, True)]:  # a chain of n boxes: n - 1 edges + 1 in the legend
        text = to_mermaid(plan_canvas(nx.DiGraph([(f"s{i}", f"s{i + 1}") for i in range(n - 1)])))
        assert mermaid_edge_count(text) == n
        error = real_mermaid.parse(text)
        assert (error is not None and "Edge limit exceeded" in error) == refused, error
        assert [w.split(":")[0] for w in mermaid_warnings(text)] == (["501 edges"] if refused else [])
    for target, refused in [(50_000, False), (50_001, True)]:
        plan = sized_plan(target)
        text = to_mermaid(plan)
        assert [w.split(":")[0] for w in mermaid_warnings(text)] == (["50,001 characters"] if refused else [])
        if refused:
            assert "Maximum text size in diagram exceeded" in real_mermaid.render(text).all_text
        else:
            check_mermaid(plan, text, real_mermaid)
    assert mermaid_warnings(f"```mermaid\n{text}```\n") == mermaid_warnings(text)  # the .md fence is not drawn


@settings(max_examples=60, deadline=None)
@given(graph=random_dags(max_nodes=40), collapse=st.booleans())
def test_random_dags_draw_every_node_edge_and_cluster(graph, collapse):
    plan = plan_canvas(nx.relabel_nodes(graph, str))
    if not collapse:
        check_dot(plan, to_dot(plan))
        return
    folded = diagram(plan, collapse=True)
    owner = {name: box.id for box in folded.boxes.values() for name in box.names}
    wanted = {(owner[u], owner[v]) for u, v in [*plan.graph.edges, *plan.added] if owner[u] != owner[v]}
    nesting, edges, _ = read_dot(to_dot(plan, collapse=True))
    assert set(nesting) == set(folded.boxes) and set(edges) == wanted


@settings(max_examples=20, deadline=None)
@given(graph=st.one_of(random_dags(max_nodes=16), series_parallel_dags(max_nodes=30)), collapse=st.booleans(),
       coloured=st.booleans())
def test_random_plans_draw_in_real_mermaid(mermaid_renderer, graph, collapse, coloured):
    """Random plans, as Mermaid text and (smaller than the DOT ones: Mermaid
    lays out dense graphs slowly) drawn by real Mermaid, folded or not,
    coloured by states or not."""
    plan = plan_canvas(nx.relabel_nodes(graph, str))
    states = {name: ["SUCCESS", "FAILURE", "SKIPPED", "PENDING"][i % 4] for i, name in enumerate(plan.graph)}
    states = states if coloured else None
    check_mermaid(plan, to_mermaid(plan, states=states, collapse=collapse), mermaid_renderer, states,
                  collapse=collapse)


def test_deeply_nested_plans_draw_without_recursion_trouble(mermaid_renderer):
    graph = nx.DiGraph()
    for i in range(600):  # x0 → (y0 | (x1 → (y1 | ...))): nesting depth grows with size
        graph.add_edge(f"x{i}", f"y{i}")
        graph.add_edge(f"x{i}", f"x{i + 1}")
    plan = plan_canvas(graph)
    check_dot(plan, to_dot(plan))
    text = to_mermaid(plan)
    check_mermaid(plan, text)
    assert [w.split(":")[0] for w in mermaid_warnings(text)] == ["1201 edges", f"{mermaid_length(text):,} characters"]
    if mermaid_renderer:  # drawn as Mermaid's error box, as the warning says (its parser alone takes 10 s here)
        assert "Maximum text size in diagram exceeded" in mermaid_renderer.render(text).all_text
