"""Plan diagrams: Graphviz DOT (and SVG/PNG/PDF through ``dot``) and Mermaid.

A thin layer over the plan tree, like dask's ``dot.py``: :func:`diagram`
turns a plan into a plain :class:`Diagram` (boxes, nested clusters, edges),
and :func:`to_dot` / :func:`to_mermaid` only spell that out. Every chain,
group and chord is a cluster labelled with its kind; edges are the graph's
dependencies, plus the ones the plan adds (dashed, labelled ``added``); the
critical path is drawn thick. Given ``states`` (and ``durations``), boxes are
coloured by each node's final state. Nothing here knows Celery.

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
from dataclasses import dataclass, field
from pathlib import Path

from .describe import critical_path
from .errors import PlannerError
from .plan import Chain, Chord, Plan, Step, Task, children, kind

#: Fill colours by final state; anything else (PENDING, STARTED, UNFINISHED...) is neutral.
STATE_COLOURS = {"SUCCESS": "#c8e6c9", "FAILURE": "#ffcdd2", "SKIPPED": "#e0e0e0"}
NEUTRAL_COLOUR = "#ffffff"
CRITICAL_COLOUR = "#1f4e9c"
ADDED_COLOUR = "#d95f02"
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
    style: str  # "dependency", "critical" or "added"


@dataclass
class Diagram:
    boxes: dict[str, Box]
    root: Cluster | str
    edges: list[Edge]
    added: bool  # the plan adds dependencies: the legend explains dashed edges
    coloured: bool  # states were given: the legend explains the colours
    caption: str = ""  # how the plan runs, and why


def diagram(plan: Plan, states=None, durations=None, collapse: bool = False) -> Diagram:
    """The plan as plain drawing data: boxes, clusters nested as the canvas
    nests, and edges. ``collapse`` folds runs of ``FOLD_MIN`` or more
    consecutive plain tasks of a chain into one box.

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> d = diagram(plan_canvas(nx.DiGraph([("a", "b"), ("b", "c")])), collapse=True)
    >>> [box.lines[0] for box in d.boxes.values()]
    ['a → … → c (3 tasks)']
    """
    states, durations = states or {}, durations or {}
    graph = plan.graph
    path, _ = critical_path(graph) if len(graph) else ([], 0.0)
    on_path = set(path)
    boxes: dict[str, Box] = {}
    owner: dict[str, str] = {}  # graph node → the id of the box drawing it
    cluster_ids = iter(range(10**9))

    def task_box(task: Task) -> str:
        attrs = graph.nodes[task.name]
        lines = [task.name, str(attrs.get("label", task.name))]
        immutable = bool(attrs.get("immutable"))
        if immutable:
            lines.append("takes no input (.si)")
        if task.gather == ():
            lines.append("sent immutable")
        elif task.gather:
            lines.append("input gathered from " + ", ".join(task.gather))
        state = states.get(task.name)
        status = _status(state, durations.get(task.name))
        if status:
            lines.append(status)
        boxes[task.name] = Box(task.name, (task.name,), lines, state, task.name in on_path,
                               immutable, bool(task.gather))
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
        if not (collapse and isinstance(step, Chain)):
            return [(sub, "") for sub in subs]
        out, run = [], []
        for sub in subs + (None,):
            if isinstance(sub, Task) and sub.gather is None:
                run.append(sub)
                continue
            out += [(run, "")] if len(run) >= FOLD_MIN else [(t, "") for t in run]
            run = []
            if sub is not None:
                out.append((sub, ""))
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
    for tail, head in graph.edges:
        pair = (owner[tail], owner[head])
        if pair[0] == pair[1]:
            continue
        style = "critical" if (tail, head) in critical_edges else "dependency"
        if pair not in edges or style == "critical":
            edges[pair] = Edge(*pair, style)
    for tail, head in plan.added:
        pair = (owner[str(tail)], owner[str(head)])
        if pair[0] != pair[1] and pair not in edges:
            edges[pair] = Edge(*pair, "added")
    caption = f"strategy: {plan.strategy}" + (f" ({plan.reason})" if plan.reason else "")
    return Diagram(boxes, root, list(edges.values()), bool(plan.added), bool(states), caption)


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


def to_dot(plan: Plan, states=None, durations=None, collapse: bool = False) -> str:
    """The plan as Graphviz DOT source.

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> 'subgraph cluster_0' in to_dot(plan_canvas(nx.DiGraph([("a", "b")])))
    True
    """
    d = diagram(plan, states, durations, collapse)
    ids = _dot_ids(d.boxes, plan.graph)
    out = [
        "digraph plan {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, newrank=true, '
        'labelloc=b, labeljust=l];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    depth = 1
    for event, item in _walk_clusters(d.root):
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
        }[edge.style]
        out.append(f"  {dot_id(ids[edge.tail])} -> {dot_id(ids[edge.head])}{attrs};")
    out.append(f"  label=<{_dot_legend(d)}>;")
    out.append("}")
    return "\n".join(out) + "\n"


_CLUSTER_COLOURS = {"chain": "#3b7dd8", "group": "#2e8b57", "chord": "#8e44ad"}


def _dot_box_attrs(box: Box) -> str:
    attrs = [f"label={dot_label(box.lines)}",
             f'fillcolor="{STATE_COLOURS.get(box.state or "", NEUTRAL_COLOUR)}"']
    styles = ["rounded", "filled"]
    if box.folded:
        attrs.append("peripheries=2")
    if box.immutable:
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
    if any(box.immutable for box in d.boxes.values()):
        rows.append(f'<tr>{key}>┄┄</td><td align="left">dashed border: .si, takes no input</td></tr>')
    if d.added:
        rows.append(f'<tr>{key}><font color="{ADDED_COLOUR}">- - →</font></td>'
                    f'<td align="left">added: the plan waits for this, the graph does not need it</td></tr>')
    if d.coloured:
        for state, colour in [*STATE_COLOURS.items(), ("other", NEUTRAL_COLOUR)]:
            rows.append(f'<tr>{key} bgcolor="{colour}" border="1"> </td><td align="left">{state}</td></tr>')
    if d.caption:
        # in the text column: a cell spanning both would stretch the key column too
        caption = '<br align="left"/>'.join(html.escape(line) for line in textwrap.wrap(d.caption, 60))
        rows.append(f'<tr><td></td><td align="left">{caption}<br align="left"/></td></tr>')
    return f'<table border="0" cellspacing="2" cellpadding="1">{"".join(rows)}</table>'


def to_graphviz(plan: Plan, states=None, durations=None, collapse: bool = False):
    """The DOT as a ``graphviz.Source`` (shows inline in Jupyter)."""
    import graphviz

    return graphviz.Source(to_dot(plan, states, durations, collapse))


# -- Mermaid ---------------------------------------------------------------


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (entity codes for the
    characters Mermaid or HTML would read).

    >>> mermaid_text('a "b" <c>')
    'a #quot;b#quot; #lt;c#gt;'
    """
    out = []
    for char in text:
        out.append(_MERMAID_ENTITIES.get(char, char))
    return "".join(out)


_MERMAID_ENTITIES = {"#": "#35;", "\n": "#10;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}


def to_mermaid(plan: Plan, states=None, durations=None, collapse: bool = False, markdown: bool = False) -> str:
    """The plan as a Mermaid flowchart (``markdown`` wraps it in a
    ```` ```mermaid ```` block, which GitHub renders). Node IDs are ``n0``,
    ``n1``...; names only appear in quoted labels.

    >>> import networkx as nx
    >>> from planner.analysis import plan_canvas
    >>> print(to_mermaid(plan_canvas(nx.DiGraph([("a", "b")]))).splitlines()[2])
      subgraph c0 ["chain"]
    """
    d = diagram(plan, states, durations, collapse)
    drawn = [item for event, item in _walk_clusters(d.root) if event == "box"]
    ids = {box_id: f"n{i}" for i, box_id in enumerate(drawn)}  # n0, n1... in drawing order
    out = ["flowchart LR"]
    out.append(f"  classDef default fill:{NEUTRAL_COLOUR},stroke:#555")
    depth = 1
    for event, item in _walk_clusters(d.root):
        pad = _indent(depth)
        if event == "open":
            out.append(f'{pad}subgraph c{item.id.rsplit("_", 1)[1]} ["{mermaid_text(item.label)}"]')
            depth += 1
        elif event == "close":
            depth -= 1
            out.append(_indent(depth) + "end")
        else:
            box = d.boxes[item]
            label = "<br/>".join(mermaid_text(line) for line in box.lines)
            shape = ('[["', '"]]') if box.folded else ('["', '"]')
            out.append(f"{pad}{ids[item]}{shape[0]}{label}{shape[1]}")
    arrows = {"dependency": "-->", "critical": "==>", "added": "-.->|added|"}
    for edge in d.edges:
        out.append(f"  {ids[edge.tail]} {arrows[edge.style]} {ids[edge.head]}")
    out += _mermaid_legend(d)
    classes: dict[str, list[str]] = {}
    for box_id, box in d.boxes.items():
        if box.state in STATE_COLOURS:
            classes.setdefault(box.state.lower(), []).append(ids[box_id])
        if box.immutable:
            classes.setdefault("immutable", []).append(ids[box_id])
        if box.critical:
            classes.setdefault("critical", []).append(ids[box_id])
    out += [f"  classDef {state.lower()} fill:{colour}" for state, colour in STATE_COLOURS.items()]
    out.append("  classDef immutable stroke-dasharray:4 3")
    out.append(f"  classDef critical stroke:{CRITICAL_COLOUR},stroke-width:3px")
    out += [f"  class {','.join(members)} {name}" for name, members in classes.items()]
    text = "\n".join(out) + "\n"
    return f"```mermaid\n{text}```\n" if markdown else text


#: Mermaid's default ``maxEdges``: renderers such as GitHub's refuse a flowchart with more.
MERMAID_MAX_EDGES = 500


def mermaid_edge_count(text: str) -> int:
    """How many edges a Mermaid flowchart from :func:`to_mermaid` draws
    (legend included), to compare with ``MERMAID_MAX_EDGES``."""
    return sum(1 for line in text.splitlines() if re.search(r" (-->|==>|-\.->)", line))


def _mermaid_legend(d: Diagram) -> list[str]:
    """A small ``legend`` subgraph (IDs ``legend0``...; never clash with ``n0``...)."""
    out = ['  subgraph legend ["legend"]', "    direction LR", '    legend0["critical path"] ==> legend1[" "]']
    if any(box.immutable for box in d.boxes.values()):
        out += ['    legend2["dashed border: .si, takes no input"]', "    class legend2 immutable"]
    if d.added:
        out.append('    legend3[" "] -.->|"added: the plan waits, the graph does not need it"| legend4[" "]')
    if d.coloured:
        for i, state in enumerate([*STATE_COLOURS, "other"], start=5):
            out.append(f'    legend{i}["{state}"]')
            if state in STATE_COLOURS:
                out.append(f"    class legend{i} {state.lower()}")
    if d.caption:
        out.append(f'    legend9["{mermaid_text(d.caption)}"]')
    out.append("  end")
    return out


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


def render_file(plan: Plan, path, fmt: str | None = None, states=None, durations=None,
                collapse: bool = False) -> None:
    """Write the diagram to ``path``; the format comes from ``fmt`` or the
    extension. SVG/PNG/PDF need Graphviz's ``dot``; DOT and Mermaid do not.

    >>> render_file(plan, "docs/etl.svg")   # doctest: +SKIP
    """
    path = str(path)
    fmt = format_for(path, fmt)
    if fmt == "mermaid" or fmt == "markdown":
        data = to_mermaid(plan, states, durations, collapse, markdown=fmt == "markdown").encode()
    else:
        source = to_dot(plan, states, durations, collapse)
        data = source.encode() if fmt == "dot" else run_dot(source, fmt)
    try:
        Path(path).write_bytes(data)
    except OSError as error:
        raise PlannerError(f"cannot write {path}: {error.strerror or error}") from None


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
