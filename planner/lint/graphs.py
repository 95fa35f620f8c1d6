"""Graph files under lint: telling them from Celery code without importing,
reading them without running them (:mod:`.graphread`) — or, with
``--import-graphs``, loading them as ``planner plan`` does — turning the
validation error into a finding, what could not be read into a note, and
graph-level advice.

>>> import ast
>>> is_graph_module(ast.parse("import networkx as nx\\ngraph = nx.DiGraph()"))
True
>>> is_graph_module(ast.parse("def graph(day='x'):\\n    return build(day)"))
True
>>> is_graph_module(ast.parse("def build():\\n    graph = 1"))
False
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .findings import Finding, Note

if TYPE_CHECKING:  # networkx and Celery are imported only when a graph file is linted
    from .graphread import Reading
    from .sources import Modules

_NODE_IN_MESSAGE = re.compile(r"node '([^']*)'")
_CYCLE = re.compile(r"has a cycle: (.*?) ->")
_LINE_PREFIX = re.compile(r"^(\d+): ")
ENVIRONMENT = "environment problem, the graph file may be fine: "  # starts the message of a module not found


def is_graph_file(text: str, tree: ast.Module, attribute: str = "graph") -> bool:
    """Is this ``.py`` a graph file: it mentions networkx (``networkx`` or
    ``DiGraph``) and its module-level code binds ``attribute`` — however:
    ``graph = nx.DiGraph()``, ``def graph(...)``, ``graph = build()``,
    ``graph = g``, in an ``if`` or ``try`` block, imported. Decided without
    importing: what the static reader then cannot read is a note, so a file
    that defines the graph never goes unchecked without a word."""
    return ("DiGraph" in text or "networkx" in text) and is_graph_module(tree, attribute)


def is_graph_module(tree: ast.Module, attribute: str = "graph") -> bool:
    """Does module-level code (also in ``if`` / ``try`` / ``with`` / loop
    blocks, not in functions or classes) bind ``attribute``?"""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == attribute:
                return True
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name).partition(".")[0] == attribute for alias in node.names):
                return True
            continue
        if isinstance(node, ast.Name) and node.id == attribute and isinstance(node.ctx, ast.Store):
            return True
        if not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def node_link_problem(text: str) -> str | None:
    """Why ``text`` is not a networkx node-link graph (one line, prefixed
    ``N: `` when it points at a line), or None when it is one: an object
    with a ``nodes`` list of objects with an ``id`` and an ``edges`` (or
    ``links``) list of objects with a ``source`` and a ``target``.

    >>> node_link_problem('{"nodes": [{"id": "a"}], "edges": []}') is None
    True
    >>> node_link_problem('{"nodes": [{"path": "x.py"}]}')
    "not a networkx node-link graph: no 'edges' (or 'links') list"
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return f"{error.lineno}: invalid JSON: {error.msg}"
    except ValueError as error:
        return f"invalid JSON: {error}"
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        return "not a networkx node-link graph (no 'nodes' list)"
    key = "links" if "links" in data else "edges"
    if not isinstance(data.get(key), list):
        return "not a networkx node-link graph: no 'edges' (or 'links') list"
    for number, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or "id" not in node:
            return f"not a networkx node-link graph: nodes[{number}] has no 'id'"
    for number, edge in enumerate(data[key]):
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            return f"not a networkx node-link graph: {key}[{number}] needs a 'source' and a 'target'"
    return None


def node_positions_py(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Node name -> (line, column) of its first ``add_node("name", ...)``
    call with a literal name; else of the first ``add_edge`` naming it."""
    found: dict[str, dict[str, tuple[int, int]]] = {"add_node": {}, "add_edge": {}}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in found:
            names = node.args[:1] if node.func.attr == "add_node" else node.args[:2]
            here = (node.lineno, node.col_offset + 1)
            for name in names:
                if isinstance(name, ast.Constant):
                    seen = found[node.func.attr]
                    seen[str(name.value)] = min(seen.get(str(name.value), here), here)
    return {**found["add_edge"], **found["add_node"]}


def node_positions_json(text: str) -> dict[str, tuple[int, int]]:
    """Where each node's ``"id"`` appears in a node-link file."""
    positions: dict[str, tuple[int, int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        for match in re.finditer(r'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', line):
            name = str(json.loads(match.group(1)))
            positions.setdefault(name, (number, match.start() + 1))
    return positions


@contextlib.contextmanager
def isolated_imports():
    """Import a graph file as a fresh ``planner plan`` process would: user
    modules (not the standard library, site-packages or planner) are hidden
    while it loads and put back after, and ``sys.path`` is restored. So
    ``tasks`` beside one graph is never the ``tasks`` beside another."""
    from ..graphfile import user_file

    path = list(sys.path)

    def user_module(name: str) -> bool:
        filename = getattr(sys.modules.get(name), "__file__", None)
        return isinstance(filename, str) and name != "__main__" and user_file(filename)

    hidden = {name: sys.modules.pop(name) for name in [n for n in list(sys.modules) if user_module(n)]}
    try:
        yield
    finally:
        sys.path[:] = path
        for name in [n for n in list(sys.modules) if user_module(n)]:
            del sys.modules[name]
        sys.modules.update(hidden)


def environmental(message: str) -> str:
    """``path:line: cannot import ...`` as an environment problem."""
    path_prefix, _, rest = message.partition(": ")
    return f"{path_prefix}: {ENVIRONMENT}{rest}"


class Unloaded(Exception):  # noqa: N818 - an outcome of loading, not an error of lint
    """Loading stopped short of the graph for a reason that is not the file's
    fault (a required parameter of its graph function): a note."""


def load(path: Path, attribute: str):
    """(graph or None, the PlannerError message or None). Raises
    :class:`Unloaded` when the graph function has required parameters: a
    graph function is called with its defaults, as ``planner plan`` calls it
    without ``--param``; a required one is for the run to give."""
    from ..errors import PlannerError
    from ..graphfile import GraphEnvironmentError, load_graph
    from ..parameters import MissingParameter

    # a graph file that prints at import must not corrupt --format json/sarif on stdout
    with isolated_imports(), contextlib.redirect_stdout(sys.stderr):
        try:
            return load_graph(path, attribute), None
        except MissingParameter as error:
            raise Unloaded(str(error).replace("\n", " ").partition(": ")[2]) from None
        except GraphEnvironmentError as error:
            return None, environmental(str(error).replace("\n", " "))
        except PlannerError as error:
            return None, str(error).replace("\n", " ")
        except Exception as error:  # a graph file may raise anything at import
            return None, f"{path}: {type(error).__name__}: {error}".replace("\n", " ")


OPT_IN = "`planner lint --import-graphs` checks it by importing the file, as planner plan does (which runs its code)"


@dataclass
class GraphCheck:
    """What linting one graph file gave: findings, notes, the graph (None
    when it could not be read or loaded) and where its nodes are."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    graph: object = None
    positions: dict = field(default_factory=dict)


def check_graph_file(display: str, path: Path, attribute: str, modules: Modules,
                     import_graphs: bool = False, problem: str | None = None) -> GraphCheck:
    """PLN100 and PLN101 for one graph file (``problem``: why a ``.json``
    is not a node-link graph). The file is read statically — nothing in it
    runs — unless ``import_graphs``; what the reader cannot see is a note."""
    from .graphread import read_json_graph, read_python_graph

    check = GraphCheck()
    json_file = path.suffix == ".json"
    text = path.read_text(encoding="utf-8")
    if json_file:
        check.positions = node_positions_json(text)
        if problem:
            check.findings.append(invalid_graph(display, path, problem, check.positions))
            return check
        reading = None if import_graphs else read_json_graph(path, modules)
    else:
        try:
            tree = ast.parse(text, str(path))
        except SyntaxError:  # parsed in pass one only after rewriting newer syntax
            check.notes.append(Note(display, 1, 1, f"graph checks skipped: the file is written for a newer Python "
                                                   f"than this {sys.version_info.major}.{sys.version_info.minor}, "
                                                   f"where planner plan would refuse it"))
            return check
        reading = read_python_graph(text, tree, str(path), attribute, modules)
        check.positions = {**node_positions_py(tree), **reading.positions}
    if import_graphs:
        try:
            graph, error = load(path, attribute)
        except Unloaded as unloaded:
            line = next((node.lineno for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and node.name == attribute), 1)
            check.notes.append(Note(display, line, 1, f"graph checks skipped: {unloaded} (--import-graphs calls a "
                                                      f"graph function with its defaults only)"))
            return check
        return _validated(check, display, path, graph, error)
    if reading.cannot_read:
        (line, column), reason = reading.cannot_read
        check.notes.append(Note(display, line, column, f"graph checks skipped: {reason}, and lint reads graph files "
                                                       f"without running them. {OPT_IN}"))
        return check
    error = environmental(reading.error) if reading.error and reading.environment else reading.error
    _validated(check, display, path, reading.graph, error, reading)
    for node, reasons in reading.unchecked():
        line, column = check.positions.get(node, (1, 1))
        check.notes.append(Note(display, line, column, f"node '{node}' partly checked: {'; '.join(reasons)}. "
                                                       f"{OPT_IN}"))
    return check


def _validated(check: GraphCheck, display: str, path: Path, graph, error: str | None,
               reading: Reading | None = None) -> GraphCheck:
    from ..errors import PlannerError
    from ..graphfile import validate

    if error is None and reading is not None:
        try:
            validate(graph, str(path), reading.task_parameters)
        except PlannerError as invalid:
            error = str(invalid).replace("\n", " ")
    if error:
        check.findings.append(invalid_graph(display, path, error, check.positions))
        return check
    check.graph = graph
    check.findings += ordering_only_segments(display, graph, check.positions)
    return check


def invalid_graph(display: str, path: Path, message: str, positions: dict) -> Finding:
    """PLN100 at the line the message points to (its own ``path:N:``, the
    node it names, else line 1)."""
    for prefix in (f"{path}:", f"{display}:"):
        if message.startswith(prefix):
            message = message[len(prefix):].lstrip()
            break
    line, column = 1, 1
    numbered = _LINE_PREFIX.match(message)
    node = _NODE_IN_MESSAGE.search(message) or _CYCLE.search(message)
    if numbered:
        line, message = int(numbered.group(1)), message[numbered.end():]
    elif node and node.group(1) in positions:
        line, column = positions[node.group(1)]
    if message.startswith(ENVIRONMENT):
        return Finding(display, line, column, "PLN100", message,
                       "run planner lint from the project root (where celery -A runs), or put the package "
                       "on PYTHONPATH; planner plan and planner run need the same")
    return Finding(display, line, column, "PLN100", message,
                   "fix the graph file: planner plan and planner run refuse it as it is")


def ordering_only_segments(display: str, graph, positions: dict) -> list[Finding]:
    """PLN101: linear segments (two or more nodes) made only of ``.si()`` nodes."""
    from ..describe import linear_segments
    from ..graphfile import structure

    plain = structure(graph)
    findings = []
    for segment in linear_segments(plain):
        if all(plain.nodes[name]["immutable"] for name in segment):
            line, column = positions.get(segment[0], (1, 1))
            findings.append(Finding(
                display, line, column, "PLN101",
                f"linear segment {' -> '.join(segment)} is all .si(): the edges order work without passing data",
                "if the order is not needed, drop those edges so the tasks run in parallel"))
    return findings


def load_report(path: str) -> dict:
    """The ``planner run --report`` JSON: ``{"status", "nodes": {name: {...}}}``.
    Raises ValueError with a one-line reason."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such run report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a JSON run report ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ValueError(f"{path}: not a planner run report (no 'nodes' object)")
    return data


def large_results(report_path: str, report_display: str, report: dict, graphs: dict, limit: int) -> list[Finding]:
    """PLN102 for each node whose reported result serializes above ``limit``
    bytes, at the node in the linted graph files that have it (else in the
    report itself). ``graphs``: display path -> (graph or None, positions)."""
    findings = []
    report_text = Path(report_path).read_text()
    for name, node in report["nodes"].items():
        result = node.get("result") if isinstance(node, dict) else None
        size = len(json.dumps(result, default=repr))
        if size <= limit:
            continue
        homes = [(display, graph, positions) for display, (graph, positions) in graphs.items()
                 if name in positions or (graph is not None and name in {str(n) for n in graph})]
        message = f"node '{name}' returned {size} bytes in the last run (threshold {limit})"
        fix = "store the data and return a reference (path, key, id); successors fetch what they need"
        if not homes:
            line = next((n for n, text in enumerate(report_text.splitlines(), 1) if json.dumps(name) in text), 1)
            findings.append(Finding(report_display, line, 1, "PLN102", message, fix))
        for display, graph, positions in homes:
            successors = _successors(graph, name)
            text = message + (f", passed to {successors} successor(s)" if successors else "")
            line, column = positions.get(name, (1, 1))
            findings.append(Finding(display, line, column, "PLN102", text, fix))
    return findings


def _successors(graph, name: str) -> int:
    if graph is None:
        return 0
    for node in graph:
        if str(node) == name:
            return graph.out_degree(node)
    return 0
