"""Loading graph files and checking them against the graph contract.

A graph file is a Python module exposing a ``networkx.DiGraph`` (attribute
``graph`` by default) whose nodes carry ``task``: a Celery signature, ``.s()``
to receive upstream results or ``.si()`` to receive nothing. The attribute
may also be a function returning the DiGraph: its parameters are the run's
(:mod:`planner.parameters`). A ``.json`` file holds the same graph
declaratively, in networkx node-link form, with nodes ``{"id": ...,
"task": "module.task_name", "args": [], "kwargs": {}, "immutable": false}``.

Graph files are imported as ``celery -A`` imports an app: the graph file's
own folder first on ``sys.path``, then the working directory, so
``from shop.tasks import charge`` works from the project root.

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
import os
import sys
import traceback
import uuid
from pathlib import Path

import networkx as nx

from .errors import PlannerError


class GraphEnvironmentError(PlannerError):
    """The graph file may be fine, but a module it needs cannot be imported
    from here (run from the project root, or set ``PYTHONPATH``)."""


def load_graph(path: str | Path, attribute: str = "graph", params: dict | None = None) -> nx.DiGraph:
    """Load and validate the graph in ``path`` (``.py`` or ``.json``);
    ``params`` are the graph function's (see :func:`load_graph_and_parameters`)."""
    return load_graph_and_parameters(path, attribute, params)[0]


def load_graph_and_parameters(path: str | Path, attribute: str = "graph", params: dict | None = None,
                              check_arity: bool = True) -> tuple[nx.DiGraph, dict]:
    """Load and validate the graph in ``path``; when its ``attribute`` is a
    function, call it with ``params`` (``{name: text}`` from ``--param``, or
    the JSON values a run report recorded) converted by its annotations.
    Returns the graph and the parameters it was built with (JSON-ready).
    ``check_arity=False`` skips checking that each task can take its
    arguments (an older graph, compared with tasks as they are now)."""
    from . import parameters

    path = Path(path)
    if not path.is_file():
        raise PlannerError(f"{path}: no such graph file")
    values: dict = {}
    if path.suffix == ".json":
        if params:
            raise PlannerError(f"{path}: a node-link JSON graph takes no parameters (--param)")
        graph = _load_json(path)
    else:
        graph = _load_module_attribute(path, attribute)
        if parameters.is_graph_function(graph):
            where = f"{path}: {attribute}()"
            values = parameters.bind(graph, params or {}, where)
            graph = _call(path, attribute, graph, values)
        elif params:
            raise PlannerError(f"{path}: '{attribute}' is not a function, so it takes no parameters "
                               f"(got --param {next(iter(params))})")
    validate(graph, str(path), task_parameters=None if check_arity else _unchecked)
    return graph, parameters.as_json(values)


def _unchecked(sig) -> None:
    """``task_parameters`` for :func:`validate` that checks no task's arity."""
    return None


def graph_parameters(path: str | Path, attribute: str = "graph") -> list:
    """The parameters of the graph function in ``path`` (none for a DiGraph
    or a JSON file), without building the graph."""
    from . import parameters

    path = Path(path)
    if not path.is_file():
        raise PlannerError(f"{path}: no such graph file")
    if path.suffix == ".json":
        return []
    value = _load_module_attribute(path, attribute)
    return parameters.parameters_of(value, f"{path}: {attribute}()") if parameters.is_graph_function(value) else []


def _call(path: Path, attribute: str, function, values: dict):
    try:
        return function(**values)
    except SystemExit as error:
        raise PlannerError(f"{path}:{_line_in(error, path)}: {attribute}() called sys.exit({error.code!r}): "
                           "a graph function must return the DiGraph") from None
    except Exception as error:
        raise PlannerError(f"{path}:{_line_in(error, path)}: {attribute}() raised {_describe(error)}") from error


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
    # Then the working directory, as `celery -A` has it: the project's packages import from its root.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(1, cwd)
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


#: The unique module name each graph file is imported under → the file's stem, which outputs show
#: instead (a task defined in the graph file itself is named after its module: the same graph must
#: print and render the same bytes every time, and compare equal to its older self in a diff).
_GRAPH_MODULES: dict[str, str] = {}


def shown_task_name(name: str) -> str:
    """A task's name as outputs show it: ``graph.add`` for a task defined in
    the graph file ``graph.py`` (which Celery names after the unique module
    the file is imported under), every other name as it is.

    >>> shown_task_name("tasks.add")
    'tasks.add'
    """
    if name.startswith("_planner_graph_"):
        module, dot, rest = name.partition(".")
        if dot and module in _GRAPH_MODULES:
            return f"{_GRAPH_MODULES[module]}.{rest}"
    return name


def _load_module_attribute(path: Path, attribute: str):
    _prefer_folder(path.resolve().parent)
    module_name = f"_planner_graph_{uuid.uuid4().hex}"
    _GRAPH_MODULES[module_name] = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        # From bytes, so a coding cookie is honoured and bad UTF-8 is a SyntaxError naming the line.
        code = compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as error:
        if "codec can't decode" in str(error.msg):
            raise PlannerError(f"{path}:{error.lineno}: not valid UTF-8 (declare the file's encoding with "
                               f"'# -*- coding: ...' or save it as UTF-8): {error.msg}") from error
        raise PlannerError(f"{path}:{error.lineno}: syntax error: {error.msg}") from error
    except (OSError, ValueError) as error:
        raise PlannerError(f"{path}: cannot read the graph file: {_describe(error)}") from error
    # In sys.modules while it runs, as an imported module is: @dataclass, typing.get_type_hints and
    # pickle look the module up there (its unique name cannot clash with another graph file's).
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as error:
        raise PlannerError(f"{path}:{_line_in(error, path)}: {exit_at_import(error.code)}") from None
    except ModuleNotFoundError as error:
        problem = GraphEnvironmentError if _environment(error) else PlannerError
        raise problem(f"{path}:{_line_in(error, path)}: {missing_module(error, path.resolve().parent)}") from error
    except Exception as error:
        line = _line_in(error, path)
        raise PlannerError(f"{path}:{line}: error while importing the graph file: {_describe(error)}") from error
    if not hasattr(module, attribute):
        raise PlannerError(f"{path}: no attribute '{attribute}' (expected a networkx.DiGraph named '{attribute}')")
    return getattr(module, attribute)


def exit_at_import(code) -> str:
    """What a graph file that exits while being imported is told."""
    return (f"the graph file called sys.exit({code!r}) while being imported: a graph file defines a graph, it does "
            "not run as a program (guard that code with if __name__ == '__main__')")


def _line_in(error: BaseException, path: Path) -> int | str:
    """The deepest traceback line that belongs to the graph file itself."""
    line: int | str = "?"
    resolved = str(path.resolve())
    for frame in traceback.extract_tb(error.__traceback__):
        if str(Path(frame.filename).resolve()) == resolved:
            line = frame.lineno
    return line


def _environment(error: ModuleNotFoundError) -> bool:
    """A top-level module is missing (the path or the installed packages),
    not a submodule of a package that was found (a name wrong in the code)."""
    name = error.name or ""
    return "." not in name or name.partition(".")[0] not in sys.modules


def missing_module(error: ModuleNotFoundError, folder: Path | None = None, package: str | None = None,
                   on_path: tuple[str, ...] = ()) -> str:
    """``cannot import 'shop': no module named 'shop' in the graph file's
    folder (...), the working directory (...) or the installed packages; …``:
    where Python looked, and how to make it look in the right place.
    ``package``: the file of the package that was found without the
    submodule; ``on_path``: folders loading puts on ``sys.path`` (for a
    message written without loading)."""
    name = error.name or str(error)
    top = name.partition(".")[0]
    if package is not None or not _environment(error):
        where = package or getattr(sys.modules[top], "__file__", None) or top
        return f"cannot import '{name}': package '{top}' ({where}) has no module '{name[len(top) + 1:]}'"
    cwd = os.getcwd()
    labels: dict[str, list[str]] = {}
    if folder is not None:
        labels.setdefault(str(folder), []).append("the graph file's folder")
    labels.setdefault(cwd, []).append("the working directory")
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            labels.setdefault(str(Path(entry).resolve()), []).append("PYTHONPATH")
    places = [f"{' and '.join(names)} ({where})" for where, names in labels.items()
              if where in sys.path or where in on_path or (where == cwd and "" in sys.path)]
    searched = ", ".join(places) + (" or " if places else "") + "the installed packages"
    return (f"cannot import '{name}': no module named '{top}' in {searched}; "
            f"run planner from the folder that holds '{top}' (as for celery -A), add that folder to PYTHONPATH, "
            "or install it")


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")


def _load_json(path: Path) -> nx.DiGraph:
    _prefer_folder(path.resolve().parent)
    return load_node_link(path)


def load_node_link(path: Path, task_signature=None) -> nx.DiGraph:
    """The graph of a networkx node-link file, its ``task`` names turned
    into signatures by ``task_signature(path, node, name, args, kwargs,
    immutable)`` (default: import the task's module and ask the task)."""
    make_signature = task_signature or _signature_from_name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PlannerError(f"{path}: not valid UTF-8 (byte {error.start}): JSON graph files are UTF-8") from error
    except OSError as error:
        raise PlannerError(f"{path}: cannot read the graph file: {_describe(error)}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlannerError(f"{path}:{error.lineno}: invalid JSON: {error.msg}") from error
    if not isinstance(data, dict) or "nodes" not in data:
        raise PlannerError(f"{path}: not a networkx node-link graph (no 'nodes')")
    edges_key = "links" if "links" in data else "edges"
    _check_node_link(path, data, edges_key)
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
        args = tuple(attrs.pop("args", None) or [])
        kwargs = attrs.pop("kwargs", None) or {}
        immutable = attrs.pop("immutable", None) or False
        attrs["task"] = make_signature(path, node, name, args, kwargs, immutable)
    return graph


# The node fields planner reads, and the JSON types each must have.
_NODE_FIELDS = {"task": (str,), "args": (list,), "kwargs": (dict,), "immutable": (bool,),
                "cost": (int, float), "map": (bool,)}
_JSON_TYPES = {str: "a string", list: "a list", dict: "an object", bool: "true or false", int: "a number",
               float: "a number"}


def _check_node_link(path: Path, data: dict, edges_key: str) -> None:
    """Every field planner reads has its JSON type: ``nodes`` a list of
    objects, each with an ``id`` (string or integer) and a ``task``
    ``"module.task_name"``, ``args`` a list, ``kwargs`` an object,
    ``immutable`` true or false, ``cost`` a number; edges name their ends."""
    nodes = data["nodes"]
    if not isinstance(nodes, list):
        raise PlannerError(f"{path}: 'nodes' must be a list, got {_json_type(nodes)}")
    for position, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise PlannerError(f"{path}: nodes[{position}] must be an object, got {_json_type(node)}")
        if "id" not in node:
            raise PlannerError(f"{path}: nodes[{position}] has no 'id'")
        name = node["id"]
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise PlannerError(f"{path}: nodes[{position}]: 'id' must be a string or an integer, "
                               f"got {_json_type(name)}")
        for field, types in _NODE_FIELDS.items():
            value = node.get(field)
            if value is None or (isinstance(value, types) and (bool in types or not isinstance(value, bool))):
                continue
            expected = " or ".join(dict.fromkeys(_JSON_TYPES[t] for t in types))
            raise PlannerError(f"{path}: node '{name}': '{field}' must be {expected}, got {_json_type(value)}")
        if "." not in node.get("task", "."):
            raise PlannerError(f"{path}: node '{name}': task must be 'module.task_name', got {node['task']!r}")
        if any(not isinstance(key, str) for key in node.get("kwargs") or {}):
            raise PlannerError(f"{path}: node '{name}': 'kwargs' keys must be strings")
    edges = data.get(edges_key, [])
    if not isinstance(edges, list):
        raise PlannerError(f"{path}: '{edges_key}' must be a list, got {_json_type(edges)}")
    for position, edge in enumerate(edges):
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            raise PlannerError(f"{path}: {edges_key}[{position}] must be an object with 'source' and 'target'")


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    shown = json.dumps(value)
    shown = shown if len(shown) <= 30 else shown[:29] + "…"
    kind = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(type(value))
    return f"{shown} ({kind})"


def _signature_from_name(path: Path, node, name: str, args: tuple, kwargs: dict, immutable: bool):
    module_name, _, task_name = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        problem = GraphEnvironmentError if _environment(error) else PlannerError
        raise problem(f"{path}: node '{node}': {missing_module(error, path.resolve().parent)}") from error
    except (Exception, SystemExit) as error:
        raise PlannerError(f"{path}: node '{node}': cannot import module '{module_name}': {_describe(error)}") from error
    task = getattr(module, task_name, None)
    if task is None or not hasattr(task, "signature"):
        raise PlannerError(f"{path}: node '{node}': '{name}' is not a Celery task")
    return task.signature(args, kwargs, immutable=immutable)


def validate(graph, where: str = "graph", task_parameters=None) -> None:
    """Check ``graph`` against the contract; raise :class:`PlannerError`
    naming the first problem found. ``task_parameters(sig)`` gives the
    :class:`inspect.Signature` a signature's task is called with (None: not
    checked) and raises LookupError for a task it does not know; by
    default, the task registered in this process."""
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
    parameters_of = task_parameters or registered_parameters()
    callable_shapes: set = set()  # (task, takes input, positional count, keywords) already bound
    for node, attrs in graph.nodes(data=True):
        if "task" not in attrs:
            raise PlannerError(f"{where}: node '{node}' has no 'task' attribute")
        sig = attrs["task"]
        if isinstance(sig, (_chain, group, chord)):
            raise PlannerError(f"{where}: node '{node}': task must be a single task signature, got a {type(sig).__name__.strip('_')}")
        if not isinstance(sig, Signature):
            raise PlannerError(f"{where}: node '{node}': task must be a Celery signature (.s() or .si()), got {type(sig).__name__}")
        _check_json(where, node, sig)
        _check_map(where, graph, node, attrs.get("map", False), sig)
        _check_arity(where, graph, node, sig, parameters_of, callable_shapes)


def _check_map(where: str, graph: nx.DiGraph, node, mapped, sig) -> None:
    """``map=True``: the node runs once per item of its one predecessor's
    list, each call getting the item as the upstream result (``.s()``)."""
    if not isinstance(mapped, bool):
        raise PlannerError(f"{where}: node '{node}': 'map' must be True or False, got {mapped!r}")
    if not mapped:
        return
    if graph.in_degree(node) != 1:
        raise PlannerError(f"{where}: node '{node}': map=True needs exactly one predecessor (whose result is the "
                           f"list to map over), it has {graph.in_degree(node)}")
    if sig.immutable:
        raise PlannerError(f"{where}: node '{node}': map=True calls the task with each item as its first argument: "
                           "use .s(), not .si()")


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


def registered_parameters():
    """``task_parameters`` for :func:`validate`: the parameters of the task
    registered in this process, computed once per task."""
    cache: dict = {}

    def parameters(sig):
        if sig.task not in cache:
            function = task_callable(sig)
            if function is None:
                raise LookupError(sig.task)
            try:
                cache[sig.task] = inspect.signature(function)
            except (TypeError, ValueError):
                cache[sig.task] = None
        return cache[sig.task]

    return parameters


def _check_arity(where: str, graph: nx.DiGraph, node, sig, parameters_of, callable_shapes: set) -> None:
    try:
        parameters = parameters_of(sig)
    except LookupError:
        raise PlannerError(f"{where}: node '{node}': task '{sig.task}' is not registered (import it in the graph file)") from None
    if parameters is None:
        return
    takes_input = not sig.immutable and graph.in_degree(node) > 0
    # Whether a call binds depends on how many positional arguments and which keywords, not their values.
    shape = (sig.task, takes_input, len(sig.args), frozenset(sig.kwargs))
    if shape in callable_shapes:
        return
    upstream = ("<upstream>",) if takes_input else ()
    try:
        parameters.bind(*upstream, *sig.args, **sig.kwargs)
        callable_shapes.add(shape)
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
    (``tasks.add(2, 3)``), ``map`` (True on map nodes only), and ``behaviour`` where the node's queue, time
    limits or retries are not Celery's defaults (:mod:`planner.behaviour`)."""
    from .behaviour import node_behaviours

    plain = nx.DiGraph()
    for node, attrs in graph.nodes(data=True):
        sig = attrs.get("task")
        plain.add_node(
            str(node),
            immutable=bool(getattr(sig, "immutable", False)),
            cost=float(attrs.get("cost", 1)),
            label=signature_label(sig) if sig is not None else str(node),
        )
    signatures = {str(node): attrs["task"] for node, attrs in graph.nodes(data=True) if attrs.get("task") is not None}
    for name, behaviour in node_behaviours(signatures).items():
        plain.nodes[name]["behaviour"] = behaviour
    for node, attrs in graph.nodes(data=True):
        if attrs.get("map") is True:
            plain.nodes[str(node)]["map"] = True
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
    return f"{shown_task_name(sig.task)}({arguments})"
