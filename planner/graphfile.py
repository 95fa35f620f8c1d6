"""Loading graph files and checking them against the graph contract.

A graph file is a Python module exposing a ``networkx.DiGraph`` (attribute
``graph`` by default) whose nodes carry ``task``: a Celery signature, ``.s()``
to receive upstream results or ``.si()`` to receive nothing. A ``.json`` file
holds the same graph declaratively, in networkx node-link form, with nodes
``{"id": ..., "task": "module.task_name", "args": [], "kwargs": {},
"immutable": false}``.

>>> g = load_graph("examples/chain/graph.py")   # doctest: +SKIP
>>> sorted(g)                                   # doctest: +SKIP
['add', 'log', 'multiply']
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import sys
import traceback
import uuid
from pathlib import Path

import networkx as nx

from .errors import PlannerError


def load_graph(path: str | Path, attribute: str = "graph") -> nx.DiGraph:
    """Load and validate the graph in ``path`` (``.py`` or ``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise PlannerError(f"{path}: no such graph file")
    if path.suffix == ".json":
        graph = _load_json(path)
    else:
        graph = _load_module_attribute(path, attribute)
    validate(graph, str(path))
    return graph


def _prefer_folder(folder: Path) -> None:
    """Make ``import tasks`` in a graph file mean the ``tasks`` beside it: the
    folder goes first on ``sys.path``, and a user module of the same name
    imported from elsewhere (another graph's ``tasks``) is forgotten — what
    was built from it keeps it alive. The standard library, installed
    packages and planner are never touched."""
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    try:
        local = {p.stem for p in folder.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    except OSError:
        return
    for name in [n for n in sys.modules if n.partition(".")[0] in local]:
        filename = getattr(sys.modules[name], "__file__", None)
        if isinstance(filename, str) and user_file(filename) and not Path(filename).resolve().is_relative_to(folder):
            del sys.modules[name]


@functools.lru_cache(maxsize=None)
def user_file(filename: str) -> bool:
    """Outside the standard library, installed packages and planner itself."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, Path(__file__).resolve().parent}
    installed = tuple(str(Path(root).resolve()) for root in roots)
    return not str(Path(filename).resolve()).startswith(installed)


def _load_module_attribute(path: Path, attribute: str):
    _prefer_folder(path.resolve().parent)
    module_name = f"_planner_graph_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        source = path.read_text()
        code = compile(source, str(path), "exec")
    except SyntaxError as error:
        raise PlannerError(f"{path}:{error.lineno}: syntax error: {error.msg}") from error
    try:
        exec(code, module.__dict__)
    except Exception as error:
        line = _line_in(error, path)
        raise PlannerError(f"{path}:{line}: error while importing the graph file: {_describe(error)}") from error
    if not hasattr(module, attribute):
        raise PlannerError(f"{path}: no attribute '{attribute}' (expected a networkx.DiGraph named '{attribute}')")
    return getattr(module, attribute)


def _line_in(error: BaseException, path: Path) -> int | str:
    """The deepest traceback line that belongs to the graph file itself."""
    line: int | str = "?"
    resolved = str(path.resolve())
    for frame in traceback.extract_tb(error.__traceback__):
        if str(Path(frame.filename).resolve()) == resolved:
            line = frame.lineno
    return line


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def _load_json(path: Path) -> nx.DiGraph:
    _prefer_folder(path.resolve().parent)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PlannerError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from error
    if not isinstance(data, dict) or "nodes" not in data:
        raise PlannerError(f"{path}: not a networkx node-link graph (no 'nodes')")
    edges_key = "links" if "links" in data else "edges"
    data = {"directed": True, "multigraph": False, **data}
    try:
        graph = nx.node_link_graph(data, edges=edges_key)
    except Exception as error:
        raise PlannerError(f"{path}: not a valid node-link graph: {_describe(error)}") from error
    if not graph.is_directed() or graph.is_multigraph():
        raise PlannerError(f"{path}: the node-link graph must be directed and not a multigraph")
    for node, attrs in graph.nodes(data=True):
        name = attrs.get("task")
        if name is None:
            continue  # reported by validate()
        if not isinstance(name, str) or "." not in name:
            raise PlannerError(f"{path}: node '{node}': task must be 'module.task_name', got {name!r}")
        attrs["task"] = _signature_from_name(path, node, name, attrs)
    return graph


def _signature_from_name(path: Path, node, name: str, attrs: dict):
    module_name, _, task_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise PlannerError(f"{path}: node '{node}': cannot import module '{module_name}': {_describe(error)}") from error
    task = getattr(module, task_name, None)
    if task is None or not hasattr(task, "signature"):
        raise PlannerError(f"{path}: node '{node}': '{name}' is not a Celery task")
    args = attrs.pop("args", []) or []
    kwargs = attrs.pop("kwargs", {}) or {}
    immutable = bool(attrs.pop("immutable", False))
    return task.signature(tuple(args), kwargs, immutable=immutable)


def validate(graph, where: str = "graph") -> None:
    """Check ``graph`` against the contract; raise :class:`PlannerError`
    naming the first problem found."""
    from celery.canvas import Signature, _chain, chord, group

    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise PlannerError(f"{where}: the graph must be a networkx.DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise PlannerError(f"{where}: the graph is empty")
    names: dict[str, object] = {}
    for node in graph:
        other = names.setdefault(str(node), node)
        if other is not node and other != node:
            raise PlannerError(f"{where}: nodes {other!r} and {node!r} have the same name '{node}'")
    # The acyclicity test is a topological sort; find_cycle (a slower edge DFS)
    # only runs to name the cycle of a graph that has one.
    cycle = None if nx.is_directed_acyclic_graph(graph) else nx.find_cycle(graph)
    if cycle:
        names_in_cycle = [str(u) for u, _ in cycle] + [str(cycle[0][0])]
        raise PlannerError(f"{where}: the graph has a cycle: {' -> '.join(names_in_cycle)}")
    parameters: dict = {}  # task name -> inspect.Signature, computed once per task
    for node, attrs in graph.nodes(data=True):
        if "task" not in attrs:
            raise PlannerError(f"{where}: node '{node}' has no 'task' attribute")
        sig = attrs["task"]
        if isinstance(sig, (_chain, group, chord)):
            raise PlannerError(f"{where}: node '{node}': task must be a single task signature, got a {type(sig).__name__.strip('_')}")
        if not isinstance(sig, Signature):
            raise PlannerError(f"{where}: node '{node}': task must be a Celery signature (.s() or .si()), got {type(sig).__name__}")
        _check_json(where, node, sig)
        _check_arity(where, graph, node, sig, parameters)


def _check_json(where: str, node, sig) -> None:
    try:
        json.dumps([list(sig.args), dict(sig.kwargs)])
    except (TypeError, ValueError) as error:
        raise PlannerError(f"{where}: node '{node}': arguments are not JSON-serializable ({error})") from error


def task_callable(sig):
    """The Python callable behind a signature's task, or ``None`` when the
    task is not registered in this process."""
    try:
        return sig.type.run
    except (KeyError, AttributeError):
        return None


def _check_arity(where: str, graph: nx.DiGraph, node, sig, cache: dict) -> None:
    if sig.task not in cache:
        function = task_callable(sig)
        if function is None:
            raise PlannerError(f"{where}: node '{node}': task '{sig.task}' is not registered (import it in the graph file)")
        try:
            cache[sig.task] = inspect.signature(function)
        except (TypeError, ValueError):
            cache[sig.task] = None
    parameters = cache[sig.task]
    if parameters is None:
        return
    takes_input = not sig.immutable and graph.in_degree(node) > 0
    upstream = ("<upstream>",) if takes_input else ()
    try:
        parameters.bind(*upstream, *sig.args, **sig.kwargs)
    except TypeError as error:
        bound = ", ".join([*map(repr, sig.args), *(f"{k}={v!r}" for k, v in sig.kwargs.items())])
        call = f"{sig.task.rpartition('.')[2]}{parameters}"
        if takes_input:
            raise PlannerError(
                f"{where}: node '{node}': {call} cannot take the upstream result plus ({bound}): {error}; "
                f"use .si() if it should take nothing"
            ) from None
        raise PlannerError(f"{where}: node '{node}': {call} cannot be called with ({bound}): {error}") from None


def structure(graph: nx.DiGraph) -> nx.DiGraph:
    """The plain graph analysis works on: ``str`` node names, predecessor
    order kept, and node attributes ``immutable``, ``cost`` and ``label``
    (``tasks.add(2, 3)``)."""
    plain = nx.DiGraph()
    for node, attrs in graph.nodes(data=True):
        sig = attrs.get("task")
        plain.add_node(
            str(node),
            immutable=bool(getattr(sig, "immutable", False)),
            cost=float(attrs.get("cost", 1)),
            label=signature_label(sig) if sig is not None else str(node),
        )
    for node in graph:  # edges added per target, so predecessor order is kept
        for pred in graph.predecessors(node):
            plain.add_edge(str(pred), str(node))
    return plain


def signature_label(sig, width: int = 40) -> str:
    """``tasks.add(2, 3)``, with long argument lists shortened."""
    parts = [repr(a) for a in sig.args] + [f"{k}={v!r}" for k, v in sig.kwargs.items()]
    arguments = ", ".join(parts)
    if len(arguments) > width:
        arguments = arguments[: width - 1] + "…"
    return f"{sig.task}({arguments})"
