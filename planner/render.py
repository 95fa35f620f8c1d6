"""Plan diagrams: Graphviz DOT (and SVG/PNG/PDF through ``dot``) and Mermaid.

A thin layer over the plan tree, like dask's ``dot.py``: :func:`diagram`
turns a plan into a plain :class:`Diagram` (boxes, nested clusters, edges),
and :func:`to_dot` / :func:`to_mermaid` only spell that out. Every chain,
group and chord is a cluster labelled with its kind; edges are the graph's
dependencies, plus the ones the plan adds (dashed, labelled ``added``); the
critical path is drawn thick. Given ``states`` (and ``durations``), boxes are
coloured by each node's final state. Given a ``diff`` (:mod:`planner.diff`),
the old plan's removed nodes and edges are drawn too (faded, dashed), and
added, changed and renamed nodes and added edges are marked. Nothing here
knows Celery.

>>> import networkx as nx
>>> from planner.analysis import plan_canvas
>>> plan = plan_canvas(nx.DiGraph([("a", "b"), ("b", "c")]))
>>> print(to_mermaid(plan).splitlines()[0])
flowchart LR
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import textwrap
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .describe import critical_path
from .errors import PlannerError
from .plan import Chain, Chord, Group, Plan, Step, Task, children, kind

#: Fill colours by final state; anything else (PENDING, STARTED, UNFINISHED...) is neutral.
STATE_COLOURS = {"SUCCESS": "#c8e6c9", "FAILURE": "#ffcdd2", "SKIPPED": "#e0e0e0"}
NEUTRAL_COLOUR = "#ffffff"
CRITICAL_COLOUR = "#1f4e9c"
ADDED_COLOUR = "#d95f02"
#: Fills of the nodes a diff marks, and the colours of edges it adds and removes.
DIFF_COLOURS = {"added": "#c7e9c0", "changed": "#fde9a9", "renamed": "#d6e4f7", "removed": "#f4f4f4"}
NEW_EDGE_COLOUR = "#238b45"
REMOVED_COLOUR = "#aaaaaa"
REMOVED_TEXT_COLOUR = "#999999"
#: What the legend says of each mark a diff draws.
DIFF_LEGEND = {
    "added": "added: new in this plan",
    "changed": "changed: task, arguments, .s/.si, map, cost or queue/limits/retries (was ... says what)",
    "renamed": "renamed: the same task and edges under a new name",
    "removed": "removed: only in the old plan (faded, dotted)",
    "new edge": "new edge: the graph did not have it",
    "removed edge": "removed edge: only in the old graph",
}
#: Shortest run of consecutive plain chain steps that ``collapse`` folds.
FOLD_MIN = 3
#: How long ``dot`` may take before we give up (a hung layout must not hang planner).
DOT_TIMEOUT = 120.0

FORMATS = {  # extension → format
    ".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot",
    ".mmd": "mermaid", ".mermaid": "mermaid", ".md": "markdown",
}
BINARY_FORMATS = ("svg", "png", "pdf")


@dataclass
class Box:
    """One drawn node: a graph node, or a folded run of chain steps."""

    id: str
    names: tuple[str, ...]
    lines: list[str]
    state: str | None = None
    critical: bool = False
    immutable: bool = False
    gathered: bool = False
    stacked: bool = False  # a map node: its task runs once per item
    change: str | None = None  # with a diff: "added", "changed", "renamed" or "removed"

    @property
    def folded(self) -> bool:
        return len(self.names) > 1


@dataclass
class Cluster:
    """One chain, group or chord; ``items`` are clusters and box ids, in canvas order."""

    id: str
    kind: str
    label: str
    items: list = field(default_factory=list)


@dataclass
class Edge:
    tail: str
    head: str
    style: str  # "dependency", "critical", "added" (by the plan) or "removed" (by a diff: only in the old plan)
    change: str | None = None  # "added" when a diff says the graph gained this edge


@dataclass
class Diagram:
    boxes: dict[str, Box]
    root: Cluster | str
    edges: list[Edge]
    added: bool  # the plan adds dependencies: the legend explains dashed edges
    coloured: bool  # states were given: the legend explains the colours
    caption: str = ""  # how the plan runs, and why
    removed: Cluster | None = None  # with a diff: the old plan's nodes the new one has not
    diff: str = ""  # with a diff: what was compared, and the changes in brief

    def changes(self) -> set[str]:
        """The kinds of change drawn (for the legend)."""
        return {box.change for box in self.boxes.values() if box.change} | \
            {"new edge" for e in self.edges if e.change == "added"} | \
            {"removed edge" for e in self.edges if e.style == "removed"}


def diagram(plan: Plan, states=None, durations=None, collapse: bool = False, items=None, diff=None) -> Diagram:
    """The plan as plain drawing data: boxes, clusters nested as the canvas
    nests, and edges. ``collapse`` folds runs of ``FOLD_MIN`` or more
    consecutive plain tasks of a chain into one box (never a node a
    ``diff`` marks). A map node is a stacked box; ``items`` (node → item
    count, after a run) shows ``×N``. ``diff``: a
    :class:`planner.diff.PlanDiff` whose new plan is ``plan``.

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> d = diagram(plan_canvas(nx.DiGraph([("a", "b"), ("b", "c")])), collapse=True)
    >>> [box.lines[0] for box in d.boxes.values()]
    ['a → … → c (3 tasks)']
    """
    states, durations, items = states or {}, durations or {}, items or {}
    graph = plan.graph
    path, _ = critical_path(graph) if len(graph) else ([], 0.0)
    on_path = set(path)
    boxes: dict[str, Box] = {}
    owner: dict[str, str] = {}  # graph node → the id of the box drawing it
    cluster_ids = iter(range(10**9))
    marks = _diff_marks(diff) if diff is not None else {}
    unfoldable = set(marks) | _diff_edge_ends(diff)

    def task_box(task: Task) -> str:
        attrs = graph.nodes[task.name]
        lines = [task.name, str(attrs.get("label", task.name))]
        immutable = bool(attrs.get("immutable"))
        if immutable:
            lines.append("takes no input (.si)")
        stacked = bool(attrs.get("map"))
        if stacked:
            count = items.get(task.name)
            lines.append(f"map ×{count} items" if count is not None else "map: once per item")
        if task.gather == ():
            lines.append("sent immutable")
        elif task.gather:
            lines.append("input gathered from " + ", ".join(task.gather))
        if attrs.get("behaviour"):
            from .behaviour import behaviour_parts

            lines.extend(behaviour_parts(attrs["behaviour"]))
        state = states.get(task.name)
        status = _status(state, durations.get(task.name))
        if status:
            lines.append(status)
        change, change_lines = marks.get(task.name, (None, []))
        boxes[task.name] = Box(task.name, (task.name,), lines + change_lines, state, task.name in on_path,
                               immutable, bool(task.gather), stacked, change)
        owner[task.name] = task.name
        return task.name

    def fold_box(run: list[Task]) -> str:
        names = tuple(t.name for t in run)
        box_id = _unused(f"{names[0]} … {names[-1]}", graph)
        total = [durations[n] for n in names if n in durations]
        lines = [f"{names[0]} → … → {names[-1]} ({len(names)} tasks)"]
        state = _worst([states[n] for n in names if n in states]) if states else None
        status = _status(state, sum(total) if total else None)
        if status:
            lines.append(status)
        boxes[box_id] = Box(box_id, names, lines, state, any(n in on_path for n in names))
        owner.update((n, box_id) for n in names)
        return box_id

    def items_of(step: Step) -> list:
        """The step's children as (step, role) pairs, runs folded when asked."""
        subs = children(step)
        if isinstance(step, Chord):
            return [(step.header, "header: "), (step.body, "body: ")]
        if not isinstance(step, Chain):
            return [(sub, "") for sub in subs]
        # In a chain, a group followed by more work is the header of the chord Celery makes of it.
        roles = ["chord header: " if isinstance(sub, Group) and i < len(subs) - 1 else "" for i, sub in enumerate(subs)]
        if not collapse:
            return list(zip(subs, roles, strict=True))
        out, run = [], []
        for sub, role in [*zip(subs, roles, strict=True), (None, "")]:
            if isinstance(sub, Task) and sub.gather is None and not graph.nodes[sub.name].get("map") \
                    and sub.name not in unfoldable:
                run.append(sub)  # a map node keeps its own (stacked) box, a node a diff marks its own
                continue
            out += [(run, "")] if len(run) >= FOLD_MIN else [(t, "") for t in run]
            run = []
            if sub is not None:
                out.append((sub, role))
        return out

    def make(step, role: str):
        if isinstance(step, list):
            return fold_box(step)
        if isinstance(step, Task):
            return task_box(step)
        return Cluster(f"cluster_{next(cluster_ids)}", kind(step), role + kind(step))

    # Iterative, so deeply nested plans do not hit the recursion limit.
    root = make(plan.root, "")
    stack = [(plan.root, root)] if isinstance(root, Cluster) else []
    while stack:
        step, cluster = stack.pop()
        for sub, role in items_of(step):
            item = make(sub, role)
            cluster.items.append(item)
            if isinstance(item, Cluster):
                stack.append((sub, item))

    critical_edges = set(zip(path, path[1:], strict=False))
    edges: dict[tuple[str, str], Edge] = {}
    new_edges = set(diff.added_edges) if diff is not None else set()
    for tail, head in graph.edges:
        pair = (owner[tail], owner[head])
        if pair[0] == pair[1]:
            continue
        style = "critical" if (tail, head) in critical_edges else "dependency"
        if pair not in edges or style == "critical":
            edges[pair] = Edge(*pair, style, "added" if (tail, head) in new_edges else None)
    for tail, head in plan.added:
        pair = (owner[str(tail)], owner[str(head)])
        if pair[0] != pair[1] and pair not in edges:
            edges[pair] = Edge(*pair, "added")
    caption = f"strategy: {plan.strategy}" + (f" ({plan.reason})" if plan.reason else "")
    removed = None
    if diff is not None:
        removed = _removed_cluster(diff, boxes, owner, graph)
        for tail, head in diff.removed_edges:
            pair = (owner[diff.new_name(tail)], owner[diff.new_name(head)])
            if pair[0] != pair[1] and pair not in edges:
                edges[pair] = Edge(*pair, "removed")
    return Diagram(boxes, root, list(edges.values()), bool(plan.added), bool(states), caption, removed,
                   _diff_caption(diff) if diff is not None else "")


def _diff_marks(diff) -> dict[str, tuple[str, list[str]]]:
    """New node name → (its change, the lines its box gets) for the nodes a
    diff marks: ``added``; ``renamed``, ``was NAME``; ``changed``, a ``was
    ...`` line per thing that changed."""
    from .behaviour import behaviour_text

    marks = {name: ("added", ["added"]) for name in diff.added_nodes}
    marks.update((new, ("renamed", [f"renamed, was {old}"])) for old, new in diff.renamed_nodes)
    for change in diff.changed_nodes:
        lines = []
        if {"task", "args", "kwargs"} & set(change.fields):
            lines.append(f"was {diff.old_graph.nodes[change.name].get('label', change.name)}")
        if "immutable" in change.fields:
            lines.append("was .si (took no input)" if change.old["immutable"] else "was .s (took its input)")
        if "map" in change.fields:
            lines.append("was a map node" if change.old["map"] else "was not a map node")
        if "cost" in change.fields:
            lines.append(f"cost was {change.old['cost']:g} s")
        if "behaviour" in change.fields:
            lines.append(f"was {behaviour_text(change.old['behaviour']) or 'Celery defaults'}")
        marks[change.name] = ("changed", ["changed:", *lines])
    return marks


def _diff_edge_ends(diff) -> set[str]:
    """The new plan's nodes at an end of an edge the diff adds or removes."""
    if diff is None:
        return set()
    ends = {node for edge in diff.added_edges for node in edge}
    return ends | {diff.new_name(node) for edge in diff.removed_edges for node in edge}


def _removed_cluster(diff, boxes: dict[str, Box], owner: dict[str, str], graph) -> Cluster | None:
    """A box for each node of the old plan that the new one has not, in a
    cluster of their own (they have no place in the new canvas)."""
    if not diff.removed_nodes:
        return None
    cluster = Cluster("cluster_removed", "removed", "removed: only in the old plan")
    for name in diff.removed_nodes:
        attrs = diff.old_graph.nodes[name]
        box_id = name if name not in boxes else _unused(name, graph)
        boxes[box_id] = Box(box_id, (name,), [name, str(attrs.get("label", name)), "removed"],
                            immutable=bool(attrs.get("immutable")), stacked=bool(attrs.get("map")), change="removed")
        owner[name] = box_id
        cluster.items.append(box_id)
    return cluster


def _diff_caption(diff) -> str:
    """``against HEAD~1:etl.py: nodes: 1 added, 2 removed; strategy was canvas``."""
    counts = [(len(diff.added_nodes), "added"), (len(diff.removed_nodes), "removed"),
              (len(diff.changed_nodes), "changed"), (len(diff.renamed_nodes), "renamed")]
    nodes = ", ".join(f"{n} {what}" for n, what in counts if n) or "none changed"
    edges = [(len(diff.added_edges), "added"), (len(diff.removed_edges), "removed")]
    edge_text = ", ".join(f"{n} {what}" for n, what in edges if n)
    parts = [f"nodes: {nodes}"] + ([f"edges: {edge_text}"] if edge_text else [])
    if diff.old_strategy[0] != diff.new_strategy[0]:
        parts.append(f"strategy was {diff.old_strategy[0]}")
    old_cost, new_cost = diff.old_critical_path[1], diff.new_critical_path[1]
    if old_cost != new_cost:
        parts.append(f"critical path {old_cost:g} s → {new_cost:g} s")
    against = f"against {diff.old_source}" if diff.old_source else "against the old plan"
    return f"{against}: " + "; ".join(parts)


def _status(state: str | None, seconds: float | None) -> str:
    """``SUCCESS · 1.25 s``.

    >>> _status("SUCCESS", 0.0004), _status(None, 0.25), _status("FAILURE", 1234.5)
    ('SUCCESS · <1 ms', '250 ms', 'FAILURE · 1234 s')
    """
    parts = [state] if state else []
    if seconds is not None:
        if seconds < 0.001:
            parts.append("<1 ms")
        elif seconds < 1:
            parts.append(f"{seconds * 1000:.0f} ms")
        else:
            parts.append(f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s")
    return " · ".join(parts)


def _worst(found: list[str]) -> str | None:
    """A folded box's state: FAILURE wins, then anything unfinished, then SKIPPED."""
    if not found:
        return None
    if "FAILURE" in found:
        return "FAILURE"
    unfinished = [state for state in found if state not in STATE_COLOURS]
    if unfinished:
        return unfinished[0]
    return "SKIPPED" if "SKIPPED" in found else "SUCCESS"


def _unused(name: str, graph) -> str:
    candidate, n = name, 1
    while candidate in graph:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def _indent(depth: int) -> str:
    """Indentation by nesting depth, capped: deeply nested plans would
    otherwise spend most of their text on spaces."""
    return "  " * min(depth, 12)


def _walk_diagram(d: Diagram):
    """:func:`_walk_clusters` over the plan's clusters, then the removed nodes'."""
    yield from _walk_clusters(d.root)
    if d.removed is not None:
        yield from _walk_clusters(d.removed)


def _walk_clusters(root):
    """(event, item) pairs: ("open", cluster), ("box", id), ("close", cluster)."""
    stack = [("item", root)]
    while stack:
        event, item = stack.pop()
        if event == "close" or isinstance(item, str):
            yield ("close" if event == "close" else "box"), item
            continue
        yield "open", item
        stack.append(("close", item))
        stack.extend(("item", sub) for sub in reversed(item.items))


# -- DOT -------------------------------------------------------------------


def dot_id(text: str) -> str:
    """A quoted DOT ID: only ``"`` needs escaping inside quotes.

    >>> print(dot_id('say "hi"'))
    "say \\"hi\\""
    """
    return '"' + text.replace('"', '\\"') + '"'


# An odd run of backslashes before a quote, a newline or the end: DOT's
# lexer would read it as an escape, so such a name cannot be its own ID.
_UNQUOTABLE = re.compile(r'(?<!\\)(\\\\)*\\(?=["\n]|$)')


def _dot_ids(boxes, graph) -> dict[str, str]:
    """Box id → DOT ID: the node name itself whenever DOT can spell it."""
    return {
        box_id: box_id if not _UNQUOTABLE.search(box_id) else _unused(box_id.replace("\\", "/"), graph)
        for box_id in boxes
    }


def dot_label(lines: list[str]) -> str:
    """A quoted DOT escString: backslashes doubled so ``\\n`` in a name stays
    literal, ``&`` spelt ``&amp;`` so ``dot`` reads no entities."""
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;") for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def to_dot(plan: Plan, states=None, durations=None, collapse: bool = False, items=None, diff=None) -> str:
    """The plan as Graphviz DOT source (with a ``diff``: what changed, marked).

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> 'subgraph cluster_0' in to_dot(plan_canvas(nx.DiGraph([("a", "b")])))
    True
    """
    d = diagram(plan, states, durations, collapse, items, diff)
    ids = _dot_ids(d.boxes, plan.graph)
    out = [
        "digraph plan {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, newrank=true, '
        'labelloc=b, labeljust=l];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    depth = 1
    for event, item in _walk_diagram(d):
        pad = _indent(depth)
        if event == "open":
            out.append(f"{pad}subgraph {item.id} {{")
            out.append(f'{pad}  label={dot_label([item.label])}; style="rounded,dashed"; '
                       f'color="{_CLUSTER_COLOURS[item.kind]}"; fontcolor="{_CLUSTER_COLOURS[item.kind]}";')
            depth += 1
        elif event == "close":
            depth -= 1
            out.append(_indent(depth) + "}")
        else:
            out.append(f"{pad}{dot_id(ids[item])} [{_dot_box_attrs(d.boxes[item])}];")
    for edge in d.edges:
        attrs = {
            "dependency": "",
            "critical": f' [color="{CRITICAL_COLOUR}", penwidth=2.5]',
            "added": f' [style=dashed, color="{ADDED_COLOUR}", fontcolor="{ADDED_COLOUR}", '
                     'label="added", fontsize=9, constraint=false]',
            "removed": f' [style=dashed, color="{REMOVED_COLOUR}"]',
        }[edge.style]
        if edge.change == "added":
            attrs = f' [color="{NEW_EDGE_COLOUR}", penwidth={2.5 if edge.style == "critical" else 1.8}]'
        out.append(f"  {dot_id(ids[edge.tail])} -> {dot_id(ids[edge.head])}{attrs};")
    out.append(f"  label=<{_dot_legend(d)}>;")
    out.append("}")
    return "\n".join(out) + "\n"


_CLUSTER_COLOURS = {"chain": "#3b7dd8", "group": "#2e8b57", "chord": "#8e44ad", "removed": REMOVED_COLOUR}


def _dot_box_attrs(box: Box) -> str:
    fill = DIFF_COLOURS[box.change] if box.change else STATE_COLOURS.get(box.state or "", NEUTRAL_COLOUR)
    attrs = [f"label={dot_label(box.lines)}", f'fillcolor="{fill}"']
    styles = ["rounded", "filled"]
    if box.folded:
        attrs.append("peripheries=2")
    if box.stacked:  # a stack of boxes: one call per item
        attrs.append("shape=box3d")
    if box.change == "removed":
        styles.append("dotted")
        attrs.append(f'color="{REMOVED_COLOUR}", fontcolor="{REMOVED_TEXT_COLOUR}"')
    elif box.immutable:
        styles.append("dashed")
    if box.critical:
        attrs.append(f'color="{CRITICAL_COLOUR}", penwidth=2.5')
    if box.state == "SKIPPED":
        attrs.append('fontcolor="#777777"')
    attrs.insert(1, f'style="{",".join(styles)}"')
    return ", ".join(attrs)


def _dot_legend(d: Diagram) -> str:
    """An HTML-like graph label (no extra nodes, so every node is a graph node)."""
    key = '<td width="44" height="14" fixedsize="true"'  # fixed, so a long caption widens only the text column
    rows = [f'<tr>{key}><font color="{CRITICAL_COLOUR}"><b>━━</b></font></td><td align="left">critical path</td></tr>']
    if any(box.immutable and box.change != "removed" for box in d.boxes.values()):
        rows.append(f'<tr>{key}>┄┄</td><td align="left">dashed border: .si, takes no input</td></tr>')
    if any(box.stacked for box in d.boxes.values()):
        rows.append(f'<tr>{key}>▤</td><td align="left">stacked box: map node, its task runs once per item</td></tr>')
    changes = d.changes()
    for change, text in DIFF_LEGEND.items():
        if change in changes and change in DIFF_COLOURS:
            rows.append(f'<tr>{key} bgcolor="{DIFF_COLOURS[change]}" border="1"> </td><td align="left">{text}</td></tr>')
    if "new edge" in changes:
        rows.append(f'<tr>{key}><font color="{NEW_EDGE_COLOUR}"><b>──→</b></font></td>'
                    f'<td align="left">{DIFF_LEGEND["new edge"]}</td></tr>')
    if "removed edge" in changes:
        rows.append(f'<tr>{key}><font color="{REMOVED_COLOUR}">- - →</font></td>'
                    f'<td align="left">{DIFF_LEGEND["removed edge"]}</td></tr>')
    if d.added:
        rows.append(f'<tr>{key}><font color="{ADDED_COLOUR}">- - →</font></td>'
                    f'<td align="left">added: the plan waits for this, the graph does not need it</td></tr>')
    if d.coloured:
        for state, colour in [*STATE_COLOURS.items(), ("other", NEUTRAL_COLOUR)]:
            rows.append(f'<tr>{key} bgcolor="{colour}" border="1"> </td><td align="left">{state}</td></tr>')
    for text in (d.caption, d.diff):
        if text:
            # in the text column: a cell spanning both would stretch the key column too
            wrapped = '<br align="left"/>'.join(html.escape(line) for line in textwrap.wrap(text, 60))
            rows.append(f'<tr><td></td><td align="left">{wrapped}<br align="left"/></td></tr>')
    return f'<table border="0" cellspacing="2" cellpadding="1">{"".join(rows)}</table>'


def to_graphviz(plan: Plan, states=None, durations=None, collapse: bool = False, items=None):
    """The DOT as a ``graphviz.Source`` (shows inline in Jupyter)."""
    import graphviz

    return graphviz.Source(to_dot(plan, states, durations, collapse, items))


# -- Mermaid ---------------------------------------------------------------

#: Mermaid's own limits (its defaults, which GitHub keeps): a flowchart with more
#: edges is refused ("Edge limit exceeded"), and a longer text, counted in UTF-16
#: units as JavaScript counts, is drawn as "Maximum text size in diagram exceeded".
MERMAID_MAX_EDGES = 500
MERMAID_MAX_CHARS = 50_000
#: Longer label lines are cut in the middle; the box's tooltip keeps them whole.
MERMAID_LINE_MAX = 60
#: Deepest indentation, and where a chain statement ends and the next begins.
MERMAID_INDENT_MAX = 6
MERMAID_LINE_WIDTH = 120

#: Box classes (a ``classDef`` is written only for the classes a diagram uses).
MERMAID_CLASSES = {
    "success": f"fill:{STATE_COLOURS['SUCCESS']}",
    "failure": f"fill:{STATE_COLOURS['FAILURE']}",
    "skipped": f"fill:{STATE_COLOURS['SKIPPED']},color:#777777",
    "immutable": "stroke-dasharray:4 3",
    "critical": f"stroke:{CRITICAL_COLOUR},stroke-width:3px",
    "key": "fill:none,stroke:none",  # legend: text without a box
    "addedkey": f"fill:none,stroke:none,color:{ADDED_COLOUR}",
    # a diff's marks
    "added": f"fill:{DIFF_COLOURS['added']}",
    "changed": f"fill:{DIFF_COLOURS['changed']}",
    "renamed": f"fill:{DIFF_COLOURS['renamed']}",
    "removed": f"fill:{DIFF_COLOURS['removed']},stroke:{REMOVED_COLOUR},color:{REMOVED_TEXT_COLOUR},"
               "stroke-dasharray:2 2",
    "newkey": f"fill:none,stroke:none,color:{NEW_EDGE_COLOUR}",
    "removedkey": f"fill:none,stroke:none,color:{REMOVED_TEXT_COLOUR}",
}
MERMAID_ARROWS = {"dependency": "-->", "critical": "==>", "added": "-.->", "removed": "-.->", "invisible": "~~~"}
MERMAID_EDGE_LABELS = {"added": "added"}
#: Edge styles beyond the arrow's own (``linkStyle``, by the edges' numbers).
MERMAID_EDGE_STYLES = {"added": f"stroke:{ADDED_COLOUR},color:{ADDED_COLOUR}",
                       "removed": f"stroke:{REMOVED_COLOUR}",
                       "new": f"stroke:{NEW_EDGE_COLOUR},stroke-width:2px",
                       "newcritical": f"stroke:{NEW_EDGE_COLOUR},stroke-width:3.5px"}

# Characters written as entities (``#35;``) inside labels, and why: '"' ends the
# label; '#' starts an entity; '<' '>' '&' are HTML; '`' starts a Markdown
# label; '%' starts directives (``%%{init: ...}%%`` anywhere in the text) and
# comments; ':' (unless a space follows) makes ``fa:fa-car`` an icon and trips
# Mermaid's rewriting of style lines (``style...:x#...;``); '$' starts KaTeX
# (``$$x$$``); '\' makes ``\n`` a line break.
_MERMAID_ENTITIES = {char: f"#{ord(char)};" for char in '"#<>&`%:$\\'}
_NBSP = "#160;"  # spaces Mermaid would trim or collapse
# Pairs Mermaid reads in what it draws, after decoding entities (so an entity
# alone does not stop it): its own entity placeholders 'ﬂ°' ('&') and '¶ß'
# (';'); and in labels of several lines, '\n' (a line break), '$$' (KaTeX) and
# ':f' (``fa:fa-car``). A zero-width non-joiner goes between the two.
_SPLIT_PAIRS = {"ﬂ°", "¶ß", "\\n", "$$", ":f"}
_ZWNJ = "#8204;"
_FORMAT_KEPT = {"\u200d"}  # the zero-width joiner builds emoji; other format characters are shown


# Words of characters Mermaid reads literally, one space apart (none is an
# entity above, starts a pair of _SPLIT_PAIRS or is a space it would trim).
_PLAIN_LABEL = re.compile(r"[\w.,()'=+\-*/\[\]{}@!?|~^]+(?: [\w.,()'=+\-*/\[\]{}@!?|~^]+)*", re.ASCII)


def _shown_as_escape(char: str) -> bool:
    """Control, bidi and other invisible format characters: drawn as ``\\u202e``
    so a name cannot hide or reorder text (nor break the SVG's XML)."""
    category = unicodedata.category(char)
    if category == "Cf":
        return char not in _FORMAT_KEPT and not "\U000e0020" <= char <= "\U000e007f"  # emoji tag sequences
    return category in ("Cc", "Cs", "Zl", "Zp")


def mermaid_text(text: str, newline: str = "<br/>") -> str:
    """Text that Mermaid draws literally inside a quoted label: entity codes
    for every character it would read as syntax, a directive, HTML, Markdown,
    an icon or math; invisible characters spelt out; newlines as line breaks.

    >>> mermaid_text('a "b" <c> 100%%{x}')
    'a #34;b#34; #60;c#62; 100#37;#37;{x}'
    >>> mermaid_text("fa:fa-car $$x$$ (note: fine)")
    'fa#58;#8204;fa-car #36;#8204;#36;x#36;#8204;#36; (note: fine)'
    >>> mermaid_text(" rtl\\u202e")
    '#160;rtl#92;u202e'
    """
    if _PLAIN_LABEL.fullmatch(text):
        return text  # most labels: nothing to escape (the loop below costs ~1 µs a character)
    out = []
    last = len(text) - 1
    for i, char in enumerate(text):
        if char == "\n":
            out.append(newline)
        elif char in _MERMAID_ENTITIES and not (char == ":" and text[i + 1:i + 2] == " "):
            out.append(_MERMAID_ENTITIES[char])
        elif char == " " and (i in (0, last) or text[i - 1] in " \n" or text[i + 1] == "\n"):
            out.append(_NBSP)
        elif _shown_as_escape(char):
            out.append(_MERMAID_ENTITIES["\\"] + ascii(char)[2:-1])
        else:
            out.append(char)
        if text[i:i + 2] in _SPLIT_PAIRS:
            out.append(_ZWNJ)
    return "".join(out)


def _shape_label(label: str) -> str:
    """A :func:`mermaid_text` label for the ``@{ shape: ..., label: "..." }``
    syntax, which reads more after decoding entities: a backslash escapes the
    next character, and ``_`` is Markdown emphasis. A zero-width non-joiner
    after each stops both (found by drawing them with real Mermaid)."""
    backslash = _MERMAID_ENTITIES["\\"]
    return label.replace(backslash, backslash + _ZWNJ).replace("_", "_" + _ZWNJ)


def cut_line(line: str, limit: int = MERMAID_LINE_MAX) -> str:
    """``line`` cut in the middle to ``limit`` characters (names that share a
    prefix usually differ at the end, so both ends stay).

    >>> cut_line("extract_customer_records_2026_11_24_part_0001", 30)
    'extract_customer_re…_part_0001'
    """
    if len(line) <= limit:
        return line
    head = (limit - 1) * 2 // 3
    return line[:head] + "…" + line[len(line) - (limit - 1 - head):]


def _closed_clusters(d: Diagram) -> set[str]:
    """Clusters that no edge crosses. Mermaid lays each of them out on its
    own, across its parent's direction (top to bottom inside left to right)
    unless it says ``direction LR``; the others go with the graph around them."""
    parent: dict[tuple[str, str], tuple[str, str] | None] = {}  # ("box", name) or ("cluster", id) → its cluster
    depth: dict[tuple[str, str], int] = {}
    stack: list[tuple[str, str]] = []
    for event, item in _walk_diagram(d):
        if event == "close":
            stack.pop()
            continue
        key = ("box", item) if event == "box" else ("cluster", item.id)
        parent[key], depth[key] = (stack[-1] if stack else None), len(stack)
        if event == "open":
            stack.append(key)
    crossed: set[tuple[str, str]] = set()
    for edge in d.edges:  # every cluster between an end and the innermost cluster holding both
        a, b = parent[("box", edge.tail)], parent[("box", edge.head)]
        while a != b:
            if b is None or (a is not None and depth[a] >= depth[b]):
                crossed.add(a)
                a = parent[a]
            else:
                crossed.add(b)
                b = parent[b]
    return {key[1] for key in parent if key[0] == "cluster" and key not in crossed}


class _MermaidLines:
    """A flowchart's lines plus the bookkeeping its styles need: Mermaid numbers
    edges in the order they are written (``linkStyle`` refers to the numbers),
    and classes are cheapest as one ``class a,b,c name`` line each."""

    def __init__(self):
        self.lines: list[str] = []
        self.depth = 0
        self.edges = 0
        self.classes: dict[str, list[str]] = {}
        self.link_styles: dict[str, list[int]] = {}
        self.tooltips: list[str] = []
        self._chain: tuple[str, int] | None = None  # (last head, line count) while a statement can go on

    def add(self, line: str) -> None:
        """One line, indented by nesting (one space a level, capped: deeply nested
        plans would otherwise spend their text on spaces)."""
        self.lines.append(" " * min(self.depth, MERMAID_INDENT_MAX) + line)

    def open(self, cluster_id: str, label: str, own_layout: bool) -> None:
        self.add(f'subgraph {cluster_id} ["{mermaid_text(label)}"]')
        self.depth += 1
        if own_layout:
            self.add("direction LR")

    def close(self) -> None:
        self.depth -= 1
        self.add("end")

    def node(self, node_id: str, lines: list[str], classes=(), folded: bool = False, cut: bool = True,
             stacked: bool = False) -> None:
        shown = [cut_line(line) for line in lines] if cut else lines
        label = "<br/>".join(mermaid_text(line) for line in shown) or " "
        if stacked:  # Mermaid's stacked rectangles ("procs": multiple processes)
            self.add(f'{node_id}@{{ shape: procs, label: "{_shape_label(label)}" }}')
        else:
            self.add(f'{node_id}[["{label}"]]' if folded else f'{node_id}["{label}"]')
        for name in classes:
            self.classes.setdefault(name, []).append(node_id)
        if shown != lines:
            # a tooltip needs a click handler; strict Mermaid (GitHub's) binds none, loose finds none
            self.tooltips.append(f'click {node_id} planner.noop "{mermaid_text(chr(10).join(lines), "#10;")}"')

    def edge(self, tail: str, style: str, heads: list[str], label: str | None = None,
             link_style: str | None = None) -> None:
        """``tail --> head & head``, or ``--> head`` added to the statement
        that ended at ``tail`` (a chain is one statement: n0 --> n1 --> n2).
        ``link_style``: the ``MERMAID_EDGE_STYLES`` entry, if not the style's."""
        label = MERMAID_EDGE_LABELS.get(style) if label is None else label
        link = MERMAID_ARROWS[style] + (f"|{mermaid_text(label)}|" if label else "") + " " + " & ".join(heads)
        if self._chain == (tail, len(self.lines)) and len(self.lines[-1]) + len(link) < MERMAID_LINE_WIDTH:
            self.lines[-1] += " " + link
        else:
            self.add(f"{tail} {link}")
        self._chain = (heads[0], len(self.lines)) if len(heads) == 1 else None
        link_style = link_style or style
        if link_style in MERMAID_EDGE_STYLES:
            self.link_styles.setdefault(link_style, []).extend(range(self.edges, self.edges + len(heads)))
        self.edges += len(heads)

    def styles(self) -> list[str]:
        out = [f"classDef {name} {MERMAID_CLASSES[name]}" for name in MERMAID_CLASSES if name in self.classes]
        out += [f"class {','.join(members)} {name}" for name, members in self.classes.items()]
        out += [f"linkStyle {','.join(map(str, numbers))} {MERMAID_EDGE_STYLES[name]}"
                for name, numbers in self.link_styles.items()]
        return out + self.tooltips


def _box_classes(box: Box) -> list[str]:
    classes = [box.state.lower()] if box.state in STATE_COLOURS else []
    if box.change:
        classes.append(box.change)
    return classes + ["immutable"] * (box.immutable and box.change != "removed") + ["critical"] * box.critical


def to_mermaid(plan: Plan, states=None, durations=None, collapse: bool = False, markdown: bool = False,
               items=None, diff=None) -> str:
    """The plan as a Mermaid flowchart (``markdown`` wraps it in a
    ```` ```mermaid ```` block, which GitHub renders; with a ``diff``, after
    a summary of what changed). Node IDs are ``n0``, ``n1``...; names only
    appear in labels, escaped by :func:`mermaid_text`.

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> text = to_mermaid(plan_canvas(nx.DiGraph([("a", "b")])))
    >>> print(text[text.index("subgraph c0"):text.index("classDef critical")])
    subgraph c0 ["chain"]
     direction LR
     n0["a<br/>a"]
     n1["b<br/>b"]
    end
    n0 ==> n1
    <BLANKLINE>
    """
    text = mermaid_source(diagram(plan, states, durations, collapse, items, diff))
    if not markdown:
        return text
    return (markdown_summary(diff) if diff is not None else "") + f"```mermaid\n{text}```\n"


def markdown_summary(diff) -> str:
    """What changed, for a pull-request comment: a heading, then
    :func:`planner.diff.diff_lines` in a plain text block (so no name in it
    is read as Markdown, HTML, a mention or an issue reference).

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> from planner.diff import plan_diff
    >>> same = plan_canvas(nx.DiGraph([("a", "b")]))
    >>> print(markdown_summary(plan_diff(same, same)), end="")
    **planner**: what changed in the plan
    <BLANKLINE>
    ```text
    no change: the same nodes, edges and plan
    ```
    <BLANKLINE>
    """
    from .diff import diff_lines
    from .text import printable

    lines = [printable(line) for line in diff_lines(diff)]
    if diff.old_source or diff.new_source:
        lines.insert(0, printable(f"{diff.new_source or 'new'} against {diff.old_source or 'old'}"))
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)  # longer than any run of backticks inside, so none closes it
    body = "\n".join(lines)
    return f"**planner**: what changed in the plan\n\n{fence}text\n{body}\n{fence}\n\n"


def mermaid_source(d: Diagram) -> str:
    """The Mermaid flowchart of a :class:`Diagram`, left to right as DOT draws
    it: the legend first (Mermaid then puts it below the clusters), the
    clusters and boxes, the edges (a chain as one statement), the styles."""
    out = _MermaidLines()
    out.add("flowchart LR")
    out.add(f"classDef default fill:{NEUTRAL_COLOUR},stroke:#555")
    _mermaid_legend(d, out)
    own_layout = _closed_clusters(d)
    ids: dict[str, str] = {}
    for event, item in _walk_diagram(d):
        if event == "open":
            out.open(f'c{item.id.rsplit("_", 1)[1]}', item.label, item.id in own_layout)
        elif event == "close":
            out.close()
        else:
            ids[item] = f"n{len(ids)}"
            box = d.boxes[item]
            out.node(ids[item], box.lines, _box_classes(box), box.folded, stacked=box.stacked)
    groups: dict[tuple[str, str, str | None], list[str]] = {}  # (tail, style, change) → heads: n0 --> n1 & n2
    for edge in d.edges:
        groups.setdefault((edge.tail, edge.style, edge.change), []).append(edge.head)
    by_tail: dict[str, list[tuple[str, str, str | None]]] = {}
    for key in groups:
        by_tail.setdefault(key[0], []).append(key)
    written: set[tuple[str, str, str | None]] = set()
    for start in groups:  # each group once; after a single head, the group leaving it (a chain goes on)
        key = start
        while key is not None and key not in written:
            written.add(key)
            heads = groups[key]
            out.edge(ids[key[0]], key[1], [ids[head] for head in heads],
                     link_style=("newcritical" if key[1] == "critical" else "new") if key[2] == "added" else None)
            key = next((k for k in by_tail.get(heads[0], ()) if k not in written), None) if len(heads) == 1 else None
    return "\n".join(out.lines + out.styles()) + "\n"


def _mermaid_legend(d: Diagram, out: _MermaidLines) -> None:
    """A ``legend`` subgraph: one row of samples drawn as the diagram draws
    them (a box of each class it uses), then the caption."""
    entries = [("critical path", ["critical"], False)]
    if any(box.immutable and box.change != "removed" for box in d.boxes.values()):
        entries.append(("takes no input (.si)", ["immutable"], False))
    changes = d.changes()
    entries += [(text, [change], False) for change, text in DIFF_LEGEND.items()
                if change in changes and change in DIFF_COLOURS]
    if "new edge" in changes:
        entries.append((f"──→ {DIFF_LEGEND['new edge']}", ["newkey"], False))
    if "removed edge" in changes:
        entries.append((f"- - → {DIFF_LEGEND['removed edge']}", ["removedkey"], False))
    if any(box.folded for box in d.boxes.values()):
        entries.append(("folded chain steps", [], True))
    stacked = any(box.stacked for box in d.boxes.values())
    if stacked:
        entries.append(("map node: its task runs once per item", [], False))
    if d.added:
        entries.append(("- - → added: the plan waits for this, the graph does not need it", ["addedkey"], False))
    if d.coloured:
        entries += [(state, [state.lower()], False) for state in STATE_COLOURS] + [("other", [], False)]
    entries += [(text, ["key"], False) for text in (d.caption, d.diff) if text]
    out.open("legend", "legend", True)
    row = [f"legend{i}" for i in range(len(entries))]
    for node_id, (text, classes, folded) in zip(row, entries, strict=True):
        out.node(node_id, [text], classes, folded, cut=False,  # long text: Mermaid wraps it
                 stacked=stacked and text.startswith("map node"))
    for tail, head in zip(row, row[1:], strict=False):  # invisible links keep the samples in one row
        out.edge(tail, "invisible", [head])
    out.close()


_MERMAID_ARROW = r" (?:-->|==>|-\.->|~~~)(?:\|[^|\n]*\|)? "
#: An edge statement as :func:`mermaid_source` writes them: ``a --> b & c ==> d``.
_MERMAID_EDGE_LINE = re.compile(rf"^ *\w+(?: & \w+)*(?:{_MERMAID_ARROW}\w+(?: & \w+)*)+$", re.M)


def mermaid_edge_count(text: str) -> int:
    """How many edges Mermaid counts in a flowchart from :func:`to_mermaid`
    (the legend's included), to compare with ``MERMAID_MAX_EDGES``.

    >>> mermaid_edge_count("flowchart LR\\n  n0 --> n1 & n2 ==> n3\\n")
    4
    """
    count = 0
    for statement in _MERMAID_EDGE_LINE.finditer(text):
        ends = [part.count(" & ") + 1 for part in re.split(_MERMAID_ARROW, statement.group(0).strip())]
        count += sum(a * b for a, b in zip(ends, ends[1:], strict=False))
    return count


def mermaid_length(text: str) -> int:
    """The text's length as Mermaid measures it (JavaScript's UTF-16 units),
    without a Markdown fence around it.

    >>> text = "flowchart LR\\n  n0[\\"🙂\\"]\\n"
    >>> len(text), mermaid_length(text)
    (23, 24)
    """
    if text.startswith("```mermaid\n"):
        text = text.removeprefix("```mermaid\n").removesuffix("```\n")
    return len(text.encode("utf-16-le")) // 2


def mermaid_warnings(text: str) -> list[str]:
    """One line for each Mermaid limit that ``text`` (from :func:`to_mermaid`)
    goes over: Mermaid, GitHub's included, would refuse it or draw an error box.

    >>> mermaid_warnings("flowchart LR\\n  n0 --> n1\\n")
    []
    """
    way_out = "try --collapse, or draw it with Graphviz (.svg, .png, .dot)"
    warnings = []
    if (edges := mermaid_edge_count(text)) > MERMAID_MAX_EDGES:
        warnings.append(f"{edges} edges: Mermaid (GitHub's too) refuses a flowchart with more than "
                        f"{MERMAID_MAX_EDGES} ('Edge limit exceeded'); {way_out}")
    if (length := mermaid_length(text)) > MERMAID_MAX_CHARS:
        warnings.append(f"{length:,} characters: Mermaid (GitHub's too) draws a diagram over {MERMAID_MAX_CHARS:,} "
                        f"characters as 'Maximum text size in diagram exceeded'; {way_out}")
    return warnings


# -- Files -----------------------------------------------------------------


def format_for(path: str, fmt: str | None = None) -> str:
    """``svg``, ``png``, ``pdf``, ``dot``, ``mermaid`` or ``markdown``, from
    ``fmt`` or else the file's extension.

    >>> format_for("docs/etl.svg"), format_for("plan.md"), format_for("x", "mmd")
    ('svg', 'markdown', 'mermaid')
    """
    if fmt is not None:
        fmt = {"mmd": "mermaid", "md": "markdown", "gv": "dot"}.get(fmt.lower(), fmt.lower())
        if fmt not in set(FORMATS.values()):
            raise PlannerError(f"unknown diagram format {fmt!r}: use svg, png, pdf, dot, mermaid or markdown")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise PlannerError(
            f"cannot tell the diagram format of {path!r} from its extension: "
            "use .svg, .png, .pdf, .dot, .mmd or .md"
        )
    return FORMATS[suffix]


def render_bytes(plan: Plan, fmt: str, states=None, durations=None, collapse: bool = False,
                 items=None, diff=None) -> tuple[bytes, list[str]]:
    """The diagram in ``fmt`` (see :func:`format_for`), and one-line warnings
    about it (a Mermaid diagram that Mermaid would refuse or replace).
    ``diff``: a :class:`planner.diff.PlanDiff` to draw on the plan."""
    if fmt == "mermaid" or fmt == "markdown":
        text = to_mermaid(plan, states, durations, collapse, markdown=fmt == "markdown", items=items, diff=diff)
        block = text[text.index("```mermaid\n"):] if fmt == "markdown" else text  # the diagram, not a summary
        return text.encode(), mermaid_warnings(block)
    source = to_dot(plan, states, durations, collapse, items, diff)
    return (source.encode() if fmt == "dot" else run_dot(source, fmt)), []


def render_file(plan: Plan, path, fmt: str | None = None, states=None, durations=None,
                collapse: bool = False, items=None, diff=None) -> list[str]:
    """Write the diagram to ``path``; the format comes from ``fmt`` or the
    extension. SVG/PNG/PDF need Graphviz's ``dot``; DOT and Mermaid do not.
    Returns the warnings of :func:`render_bytes`.

    >>> render_file(plan, "docs/etl.svg")   # doctest: +SKIP
    []
    """
    path = str(path)
    data, warnings = render_bytes(plan, format_for(path, fmt), states, durations, collapse, items, diff)
    try:
        Path(path).write_bytes(data)
    except OSError as error:
        raise PlannerError(f"cannot write {path}: {error.strerror or error}") from None
    return warnings


def stale(plan: Plan, path, fmt: str | None = None, collapse: bool = False, diff=None) -> tuple[str | None, list[str]]:
    """Whether the text diagram in ``path`` (.dot, .mmd, .md) is what
    :func:`render_file` would write now: ``(None, warnings)`` when it is,
    ``(why not, warnings)`` when it is stale or missing. The same plan always
    renders to the same bytes, so a committed diagram can be checked in CI.
    SVG, PNG and PDF cannot be checked (Graphviz's output varies with its
    version and fonts): :class:`PlannerError`."""
    path = str(path)
    chosen = format_for(path, fmt)
    if chosen in BINARY_FORMATS:
        raise PlannerError(f"--check compares text diagrams (.dot, .mmd, .md): {path} is {chosen.upper()}, "
                           "which Graphviz draws differently from version to version; check its .dot instead")
    data, warnings = render_bytes(plan, chosen, collapse=collapse, diff=diff)
    try:
        committed = Path(path).read_bytes()
    except FileNotFoundError:
        return f"{path} does not exist", warnings
    except OSError as error:
        raise PlannerError(f"cannot read {path}: {error.strerror or error}") from None
    if committed == data:
        return None, warnings
    if committed.replace(b"\r\n", b"\n") == data:
        return None, warnings  # checked out with Windows line endings: the same diagram
    return f"{path} is stale: it is not the diagram of the plan as it is now", warnings


def run_dot(source: str, fmt: str, timeout: float = DOT_TIMEOUT) -> bytes:
    """Lay out DOT ``source`` with Graphviz's ``dot`` into ``fmt`` bytes.

    Called directly rather than through ``graphviz.pipe`` so that the wait
    has a timeout."""
    dot = shutil.which("dot")
    if dot is None:
        raise PlannerError(
            f"Graphviz's dot was not found, so no {fmt.upper()}: install it with "
            "'apt-get install graphviz' (or 'brew install graphviz'), or write .dot/.mmd instead"
        )
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PlannerError(f"dot took longer than {timeout:g} s to lay out the diagram: try --collapse") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise PlannerError(f"dot failed: {message[0] if message else f'exit code {done.returncode}'}")
    return done.stdout
