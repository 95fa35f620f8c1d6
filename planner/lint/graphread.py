"""Reading a graph file without running it.

A small interpreter over the file's syntax tree follows what graph files
do — ``nx.DiGraph(...)``, ``add_node`` / ``add_edge`` / ``add_nodes_from`` /
``add_edges_from`` (and ``nx.add_path``, ``graph.nodes[n][key] = ...``),
loops over literal ranges, lists and dicts, f-strings and arithmetic on
known values, the file's own functions (a graph function is called with
its defaults, a required parameter unknown), ``nx.compose`` /
``relabel_nodes`` / ``graph.copy()`` of the graphs it holds, ``.s()`` / ``.si()`` /
``.signature()`` of the tasks it imports (found and read statically, see
:mod:`.sources`) — and builds the ``networkx.DiGraph`` importing the file
would build, with Celery signatures in it. Nothing it reads is run: only
pure operations of the standard library on literal data (with bounds on
sizes and steps), and networkx and Celery data-structure calls on it.

A value computed at run time (a call into other code, a file, the
environment) is *unknown*. It stays harmless while the graph does not
depend on it; when the graph does, reading stops with :class:`CannotRead`
(a note for the user, not a finding). A statement that certainly fails at
import (``raise``, an undefined name, a ``KeyError`` on a literal dict,
networkx refusing an edge...) is reported as importing would report it.

>>> source = '''
... import networkx as nx
... graph = nx.DiGraph()
... for name in ("a", "b"):
...     graph.add_node(f"step-{name}")
... graph.add_edge("step-a", "step-b")
... '''
>>> reading = read_python_graph(source, ast.parse(source), "graph.py")
>>> sorted(reading.graph.edges), reading.positions["step-b"]
([('step-a', 'step-b')], (5, 5))
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import itertools
import math
import operator
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from .collect import dotted
from .sources import Modules, Search, TaskInfo, postponed_annotations, task_info

STEP_LIMIT = 1_000_000  # expressions and statements evaluated per file (a 20,000-node loop takes 380,000)
SIZE_LIMIT = 1_000_000  # items in a collection, characters in a string
BUILD_LIMIT = 10_000_000  # items and characters built in all (a loop of big lists must not fill the memory)
DEPTH_LIMIT = 60  # nested calls of the file's own functions
TEXT = 60  # characters of source quoted in a note
MODULE_NAME = "_planner_graph"  # what __name__ is while planner imports a graph file (it never is "__main__")


# --- outcomes ----------------------------------------------------------------------------------------------

class CannotRead(Exception):  # noqa: N818 - an outcome of reading, not an error of lint
    """The graph depends on something the reader cannot know statically."""

    def __init__(self, at: tuple[int, int], reason: str):
        super().__init__(reason)
        self.at = at
        self.reason = reason


class ImportFails(Exception):  # noqa: N818
    """Importing the file certainly raises ``kind`` (an exception class
    name) at ``line``: ``error`` is what loading says after ``path:line:``."""

    def __init__(self, line: int, error: str, kind: str = "Exception", environment: bool = False):
        super().__init__(error)
        self.line = line
        self.error = error
        self.kind = kind
        self.environment = environment  # a module not found from here: the graph file may be fine


class _MissingAttribute(Exception):  # noqa: N818
    pass


class _Refused(Exception):  # noqa: N818
    """``planner plan`` refuses the graph function before calling it: the
    message after ``path: ``."""


class _Break(Exception):  # noqa: N818
    pass


class _Continue(Exception):  # noqa: N818
    pass


class _Return(Exception):  # noqa: N818
    def __init__(self, value):
        super().__init__()
        self.value = value


# --- what the reader holds besides plain data --------------------------------------------------------------

class Unknown:
    """A value computed at run time; ``text`` is its source."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Unread(str):
    """An argument computed at run time, inside a signature: it prints as
    written, and its JSON-ness is not judged."""

    def __repr__(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True)
class ModuleValue:
    name: str


@dataclass(frozen=True)
class ImportedName:
    """``from module import name``: resolved only when used as a task."""

    module: str
    name: str


@dataclass
class TaskValue:
    """A task function (defined in the file or found in an imported module)."""

    info: TaskInfo


@dataclass
class Method:
    """``owner.name`` of a value the reader follows."""

    owner: object
    name: str


@dataclass
class Function:
    """A function (or lambda) of the file, run by the reader when called."""

    node: ast.AST
    frame: _Frame
    defaults: list
    kw_defaults: list
    local_names: frozenset


@dataclass
class OpaqueFunction:
    """A function of the file the reader does not run (decorated, a
    generator, or defined where the reader could not follow)."""

    node: ast.AST


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class Special:
    """A function of networkx, Celery or the standard library the reader follows."""

    kind: str
    name: str


class CeleryApp:
    """``Celery(...)``: only its ``signature`` method is followed."""


class SysPath:
    """``sys.path``: ``insert`` and ``append`` of known folders are followed
    (where the file's later imports are looked for); anything else makes a
    missing module uncertain."""


_MARKERS = (Unknown, ModuleValue, ImportedName, TaskValue, Method, Function, OpaqueFunction, Builtin, Special,
            CeleryApp, SysPath)
# Plain data, by exact type: Celery's Signature is a dict and Unread a str, and neither is plain.
_PLAIN = frozenset({str, int, float, complex, bool, type(None), bytes, tuple, list, dict, set, frozenset, range, slice})
_SCALARS = frozenset({str, int, float, complex, bool, type(None), bytes, range, slice})


def _plain(value) -> bool:
    return type(value) in _PLAIN


def _named(name: str):
    """An instance of a class called ``name``: what validation reports as
    the type of a value that is not a signature (``PromiseProxy`` for a
    task not turned into a signature)."""
    return type(name, (), {"__repr__": lambda self: f"<{name}>"})()


@dataclass
class SigInfo:
    """What the reader knows of a signature it built."""

    sig: object
    parameters: inspect.Signature | None  # None: arity not checked
    reasons: list[str] = field(default_factory=list)  # why part of it is not checked


class _Frame:
    __slots__ = ("values", "local", "parent", "declared_global")

    def __init__(self, values: dict, local: frozenset | None = None, parent: _Frame | None = None,
                 declared_global: frozenset = frozenset()):
        self.values = values
        self.local = local  # None for the module
        self.parent = parent  # the enclosing function's frame, None for the module
        self.declared_global = declared_global


@dataclass
class Reading:
    """The graph importing the file would build (None when it could not be
    read), or what importing would fail with; where each node is added;
    what could not be checked."""

    graph: nx.DiGraph | None = None
    error: str | None = None  # the loading error, as planner plan prints it
    environment: bool = False  # the error is a module not found from where lint runs
    cannot_read: tuple[tuple[int, int], str] | None = None  # where and why reading stopped
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    signatures: dict[int, SigInfo] = field(default_factory=dict)

    def task_parameters(self, sig):
        """``task_parameters`` for :func:`planner.graphfile.validate`."""
        info = self.signatures.get(id(sig))
        return info.parameters if info is not None else None

    def unchecked(self) -> list[tuple[str, list[str]]]:
        """(node, reasons) for each node whose task is not fully checked."""
        found = []
        for node, attrs in (self.graph.nodes(data=True) if self.graph is not None else ()):
            info = self.signatures.get(id(attrs.get("task")))
            if info is not None and info.reasons:
                found.append((str(node), info.reasons))
        return found


def read_python_graph(source: str, tree: ast.Module, path: str, attribute: str = "graph",
                      modules: Modules | None = None) -> Reading:
    """Read the graph a ``.py`` graph file builds (see the module doc)."""
    reader = _Reader(source, tree, Path(path), modules or Modules())
    reading = Reading(positions=reader.positions, signatures=reader.signatures)
    try:
        reader.run(tree.body, reader.module)
        reading.graph = reader.result(attribute)
    except CannotRead as stop:
        reading.cannot_read = (stop.at, stop.reason + _unset(reader, attribute))
    except ImportFails as failure:
        reading.error = f"{path}:{failure.line}: {failure.error}"
        reading.environment = failure.environment
    except _Refused as refused:
        reading.error = f"{path}: {refused}"
    except _MissingAttribute:
        reading.error = f"{path}: no attribute '{attribute}' (expected a networkx.DiGraph named '{attribute}')"
    except RecursionError:
        reading.cannot_read = ((reader.line, 1), "expressions nested too deeply to follow")
    except (Exception, MemoryError) as error:  # noqa: BLE001 - whatever the file holds, lint goes on and says so
        reading.cannot_read = ((reader.line, 1), f"the static reader stopped on {type(error).__name__} here")
    return reading


def _unset(reader: _Reader, attribute: str) -> str:
    """Which required parameters of the graph function lint had no value for."""
    if not reader.unset:
        return ""
    names = ", ".join(reader.unset)
    return f" (lint reads {attribute}() with its defaults; required parameter(s) {names} have no value here)"


def read_json_graph(path: Path, modules: Modules | None = None) -> Reading:
    """Read a node-link ``.json`` graph, its task names resolved statically
    (importing would import each task's module)."""
    from celery.canvas import Signature

    from ..errors import PlannerError
    from ..graphfile import GraphEnvironmentError, load_node_link

    modules = modules or Modules()
    reading = Reading()
    folder = path.resolve().parent

    def signature(path, node, name, args, kwargs, immutable):
        module, _, function = name.rpartition(".")
        problem = modules.import_problem(module, folder)
        if problem is not None:  # importing the task's module would fail
            message, environment = problem
            raise (GraphEnvironmentError if environment else PlannerError)(f"{path}: node '{node}': {message}")
        info = modules.task(module, function, folder)
        if info is None and (modules.missing(module, function, folder) or modules.plain_function(module, function,
                                                                                                   folder)):
            raise PlannerError(f"{path}: node '{node}': '{name}' is not a Celery task")
        sig = Signature(info.name if info is not None else name, args, kwargs, immutable=immutable)
        reasons = [] if info is not None and info.parameters is not None else [
            f"task '{name}' is not a decorated function lint can find" if info is None else
            f"another decorator under @task changes the parameters of '{name}'"]
        reading.signatures[id(sig)] = SigInfo(sig, info.parameters if info is not None else None, reasons)
        return sig

    try:
        reading.graph = load_node_link(path, signature)
    except PlannerError as error:
        reading.error = str(error)
        reading.environment = isinstance(error, GraphEnvironmentError)
    return reading


# --- what the reader follows -------------------------------------------------------------------------------

_SAFE_BUILTINS = {
    "range", "len", "str", "repr", "int", "float", "bool", "complex", "list", "tuple", "set", "frozenset", "dict",
    "sorted", "reversed", "enumerate", "zip", "min", "max", "sum", "any", "all", "abs", "round", "divmod", "ord",
    "chr", "hex", "oct", "bin", "isinstance", "map", "filter", "print", "object", "ascii", "format", "slice",
}
_STRUCTURAL = {"list", "tuple", "len", "enumerate", "zip", "reversed", "dict", "bool"}  # do not look into items
_DYNAMIC = {"globals", "vars", "locals", "exec", "eval", "setattr", "delattr", "getattr", "__import__", "compile"}
_STR_METHODS = {
    "format", "join", "upper", "lower", "title", "capitalize", "casefold", "strip", "lstrip", "rstrip", "replace",
    "split", "rsplit", "splitlines", "startswith", "endswith", "zfill", "ljust", "rjust", "center", "removeprefix",
    "removesuffix", "partition", "rpartition", "count", "find", "rfind", "index", "rindex", "isdigit", "isalpha",
    "isalnum", "isidentifier", "islower", "isupper", "isspace", "swapcase", "encode", "decode", "hex",
}
_METHODS = {
    str: _STR_METHODS, bytes: _STR_METHODS,
    list: {"append", "extend", "insert", "pop", "remove", "index", "count", "copy", "reverse", "sort", "clear"},
    dict: {"items", "keys", "values", "get", "setdefault", "update", "pop", "copy", "popitem", "clear"},
    set: {"add", "update", "union", "intersection", "difference", "symmetric_difference", "discard", "remove",
          "copy", "issubset", "issuperset", "isdisjoint", "pop", "clear"},
    frozenset: {"union", "intersection", "difference", "symmetric_difference", "copy", "issubset", "issuperset",
                "isdisjoint"},
    tuple: {"index", "count"},
}
_STRUCTURAL_METHODS = {"items", "keys", "values", "get", "copy", "append", "insert", "setdefault", "extend",
                       "update", "reverse", "clear", "pop", "popitem"}  # fine with unknown items inside
_GRAPH_BUILDERS = {"add_node", "add_nodes_from", "add_edge", "add_edges_from", "add_weighted_edges_from",
                   "remove_node", "remove_nodes_from", "remove_edge", "remove_edges_from", "clear", "clear_edges"}
_GRAPH_READERS = {"has_node", "has_edge", "number_of_nodes", "number_of_edges", "successors", "predecessors",
                  "neighbors", "in_degree", "out_degree", "degree", "order", "size", "in_edges", "out_edges",
                  "get_edge_data", "is_directed", "is_multigraph"}
_GRAPH_VIEWS = {"nodes", "edges", "succ", "pred", "adj", "graph", "name"}
_NX_FUNCTIONS = {"DiGraph", "add_path", "add_star", "add_cycle", "set_node_attributes", "set_edge_attributes"}
# networkx functions that only read a graph, in linear time: a graph file may check itself with them
_NX_READERS = {"is_directed_acyclic_graph", "topological_sort", "ancestors", "descendants", "has_path",
               "is_weakly_connected", "weakly_connected_components", "number_weakly_connected_components",
               "find_cycle", "is_empty", "number_of_nodes", "number_of_edges", "non_edges", "isolates",
               "number_of_isolates"}
# networkx functions and graph methods that build a new graph (or a view) from graphs the reader holds
_NX_BUILDERS = {"compose", "compose_all", "union", "union_all", "relabel_nodes"}
_GRAPH_COPIES = {"copy", "subgraph"}
_CANVAS = {"chain", "group", "chord"}
_SIGNATURE_FUNCTIONS = {"signature", "Signature", "subtask"}
_SIGNATURE_METHODS = {"s", "si", "signature", "subtask"}
_SIG_METHODS = {"set", "clone", "on_error", "link", "link_error", "set_immutable"}
_ITERTOOLS = {"pairwise", "product", "chain", "combinations", "permutations", "islice", "accumulate",
              "zip_longest", "repeat"}
_EXCEPTIONS = {name for name in dir(builtins)
               if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
           ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitAnd: operator.and_,
           ast.BitXor: operator.xor}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_TYPING_REFUSED = {"Dict", "Tuple", "Set", "FrozenSet", "Sequence", "Mapping", "Iterable", "Any", "Callable", "List"}
_DATETIME = {"time", "timedelta", "timezone", "tzinfo"}
_BIG_FORMAT = re.compile(r"\d{7,}|\*")  # a width or precision that could build a huge string
_REQUIRED = inspect.Parameter.empty
_SPECIAL_MODULES = {
    "networkx": ("nx", _NX_FUNCTIONS | _NX_READERS | _NX_BUILDERS),
    "celery": ("celery", {"Celery", *_CANVAS, *_SIGNATURE_FUNCTIONS}),
    "celery.canvas": ("celery", {*_CANVAS, *_SIGNATURE_FUNCTIONS}),
    "itertools": ("itertools", _ITERTOOLS),
    "os.path": ("os.path", {"join", "dirname", "basename", "abspath", "normpath", "split", "splitext",
                            "realpath"}),
    "posixpath": ("os.path", {"join", "dirname", "basename", "abspath", "normpath", "split", "splitext",
                              "realpath"}),
}
_IMPORT_PATH = {("sys", "path"), ("sys", "path_hooks"), ("sys", "meta_path"), ("sys", "modules")}
_CONSTANTS = {
    ("typing", "TYPE_CHECKING"): False,
    ("math", "pi"): math.pi, ("math", "e"): math.e, ("math", "inf"): math.inf,
    **{("string", name): getattr(string, name) for name in ("ascii_lowercase", "ascii_uppercase", "ascii_letters",
                                                            "digits", "hexdigits", "octdigits", "punctuation")},
}
_SIGNATURE = inspect.Signature([  # the parameters of Celery's Signature(...) after the task
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
    for name, default in (("args", None), ("kwargs", None), ("options", None), ("type", None),
                          ("subtask_type", None), ("immutable", False), ("app", None))
] + [inspect.Parameter("ex", inspect.Parameter.VAR_KEYWORD)])


def _text(node) -> str:
    text = ast.unparse(node)
    return text if len(text) <= TEXT else text[: TEXT - 1] + "…"


class _Reader:
    def __init__(self, source: str, tree: ast.Module, path: Path, modules: Modules):
        self.lines = source.splitlines()
        self.path = path
        self.folder = path.resolve().parent
        self.modules = modules
        self.postponed = postponed_annotations(tree)
        # code that can bind names the reader does not see: an unbound name is then unknown, not a NameError
        self.dynamic = any(text in source for text in ("globals(", "vars(", "__dict__", "exec(", "setattr(",
                                                       "__builtins__", "import_module", "__import__"))
        self.module = _Frame({"__name__": MODULE_NAME, "__file__": str(path), "__doc__": ast.get_docstring(tree)})
        self.stars: list[str] = []
        self.imported_modules: list[str] = []
        self.steps = 0
        self.built = 0
        self.depth = 0
        self.with_depth = 0
        self.path_changed = False  # the file changes sys.path in a way not followed (or uses site, importlib)
        self.search = ((), ())  # folders the file puts first and last on sys.path
        self.line = 1
        self.calling: str | None = None  # the graph function being called (its errors are worded as loading words them)
        self.unset: list[str] = []  # its required parameters: no value when lint reads it
        self.bound_at: dict[str, ast.AST] = {}
        self.graph_data: dict[int, dict] = {}  # the graphs' own dicts (node attributes, graph.graph), kept alive
        self.positions: dict[str, tuple[int, int]] = {}  # node -> its first add_node
        self.edge_positions: dict[str, tuple[int, int]] = {}  # node -> its first edge (or other creation)
        self.signatures: dict[int, SigInfo] = {}
        self.tainted: dict[int, object] = {}  # containers changed by code the reader did not follow

    # positions and outcomes --------------------------------------------------------------------------------

    def at(self, node) -> tuple[int, int]:
        """1-based line and character column of ``node``."""
        line = getattr(node, "lineno", self.line)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        offset = getattr(node, "col_offset", 0)
        column = offset if text.isascii() else len(text.encode()[:offset].decode(errors="replace"))
        return line, column + 1

    def step(self, node) -> None:
        self.steps += 1
        if self.steps > STEP_LIMIT:
            raise CannotRead(self.at(node), f"building it takes more than {STEP_LIMIT:,} steps to follow")

    def fails(self, error: BaseException | str, node=None) -> Exception:
        """What importing the file raises here (``error``: the exception or
        "Type: message"). Inside ``try`` or ``with`` it may be caught: then
        reading stops instead."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        text = text.replace("\n", " ")
        line = getattr(node, "lineno", None) or self.line
        what = f"{self.calling}() raised" if self.calling else "error while importing the graph file:"
        return self.raising(line, f"{what} {text}", text.partition(":")[0])

    def raising(self, line: int, message: str, kind: str, environment: bool = False) -> Exception:
        if self.with_depth:  # a context manager may swallow it: what follows is not known
            return CannotRead((line, 1), f"line {line} raises {kind} inside a with block")
        return ImportFails(line, message, kind, environment)

    def importable(self, module: str, node) -> None:
        """Importing ``module`` certainly fails when it is found nowhere
        Python would look: ModuleNotFoundError, as loading reports it."""
        problem = None if self.path_changed else self.modules.import_problem(module, self.where)
        if problem is not None:
            message, environment = problem
            if self.calling:  # loading reports what the graph function raised, whatever it is
                if not environment:
                    return  # which submodule is missing is not worded here: not judged
                top = module.partition(".")[0]
                raise self.fails(f"ModuleNotFoundError: No module named '{top}'", node)
            raise self.raising(node.lineno, message, "ModuleNotFoundError", environment)

    @property
    def where(self) -> Search:
        """Where the file's imports are looked for, as loading it has them."""
        return Search(self.folder, *self.search)

    def change_path(self, name, args, kwargs, complete) -> None:
        """``sys.path.insert(0, folder)`` / ``.append(folder)`` /
        ``.extend(folders)`` with known folders: later imports look there."""
        front, back = self.search
        folders = args[1:] if name == "insert" and len(args) == 2 and args[0] == 0 else \
            args if name == "append" and len(args) == 1 else \
            args[0] if name == "extend" and len(args) == 1 and type(args[0]) in (list, tuple) else None
        if folders is None or not complete or kwargs or not all(type(f) is str for f in folders):
            self.path_changed = True
            return None
        paths = tuple(Path(folder).resolve() for folder in folders)  # relative entries: from the working directory
        self.search = (paths + front, back) if name == "insert" else (front, back + paths)
        return None

    def exits(self, code, node) -> Exception:
        """``sys.exit(code)`` (or ``raise SystemExit(code)``) while importing."""
        from ..graphfile import exit_at_import

        if self.calling:
            return self.raising(node.lineno, f"{self.calling}() called sys.exit({code!r}): a graph function must "
                                             "return the DiGraph", "SystemExit")
        return self.raising(node.lineno, exit_at_import(code), "SystemExit")

    def stop(self, node, why: str) -> CannotRead:
        return CannotRead(self.at(node), why)

    # the result --------------------------------------------------------------------------------------------

    def result(self, attribute: str) -> nx.DiGraph:
        values = self.module.values
        if attribute not in values:
            if self.stars or self.dynamic:
                raise CannotRead((1, 1), f"'{attribute}' may come from a star import or dynamic code")
            raise _MissingAttribute()
        graph = values[attribute]
        if isinstance(graph, Function):
            graph = self.call_graph_function(graph, attribute)
            if _plain(graph):
                return graph  # validation says what it is instead of a DiGraph, as loading does
        elif isinstance(graph, OpaqueFunction):
            raise CannotRead(self.at(graph.node), f"'{attribute}' is a {_opaque_kind(graph.node)} function, which the "
                                                  "reader does not run")
        node = self.bound_at.get(attribute)
        if isinstance(node, ast.ImportFrom) and not isinstance(graph, nx.DiGraph):
            raise CannotRead(self.at(node), f"'{attribute}' is imported from {node.module}, which the reader does "
                                            "not run")
        if not isinstance(graph, nx.DiGraph):
            node = self.bound_at.get(attribute)
            value = getattr(node, "value", None)
            shown = f"`{_text(value)}`" if value is not None else "a value"
            raise CannotRead(self.at(node) if node is not None else (1, 1),
                             f"'{attribute}' is assigned {shown}, computed at run time")
        for _, attrs in graph.nodes(data=True):
            self.finish_attributes(attrs)
        for name in graph:
            key = str(name)
            if key not in self.positions and key in self.edge_positions:
                self.positions[key] = self.edge_positions[key]
        return graph

    def call_graph_function(self, function: Function, attribute: str):
        """What ``planner plan`` does with a graph function: call it with its
        defaults. A required parameter has no value here: it is unknown (what
        depends on it is a note); ``--param`` values are not lint's."""
        for arg in _annotated(function.node):
            shown = self.refused_annotation(arg.annotation, function.frame)
            if shown is not None:  # what planner.parameters says of it
                raise _Refused(f"{attribute}(): parameter '{arg.arg}' is annotated {shown}: planner converts str, "
                               "int, float, bool, list[str], date and datetime")
        required = [p for p in _parameters(function.node, function.defaults, function.kw_defaults).parameters.values()
                    if p.default is _REQUIRED and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        self.unset = [p.name for p in required]
        args = [Unknown(p.name) for p in required if p.kind is p.POSITIONAL_ONLY]
        kwargs = {p.name: Unknown(p.name) for p in required if p.kind is not p.POSITIONAL_ONLY}
        self.calling = attribute
        node = function.node
        self.line = node.lineno
        try:
            value = self.run_function(function, args, kwargs, node)
        finally:
            self.calling = None
        if not isinstance(value, nx.DiGraph) and not _plain(value):
            raise CannotRead(self.at(node), f"{attribute}() returns `{_shown(value)}`, computed at run time")
        return value

    def refused_annotation(self, expr, frame: _Frame, depth: int = 0) -> str | None:
        """The name ``planner.parameters`` gives an annotation it refuses to
        convert a ``--param`` to (``dict``, ``list[int]`` is ``list``, a class
        of the file); None when it is accepted or not known statically."""
        if depth > 5:
            return None
        if isinstance(expr, ast.Constant) and type(expr.value) is str:  # a string annotation: evaluated as written
            try:
                expr = ast.parse(expr.value.strip(), mode="eval").body
            except SyntaxError:
                return None
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):  # X | None is X
            sides = [side for side in (expr.left, expr.right)
                     if not (isinstance(side, ast.Constant) and side.value is None)]
            return self.refused_annotation(sides[0], frame, depth + 1) if len(sides) == 1 else None
        base, argument = (expr.value, expr.slice) if isinstance(expr, ast.Subscript) else (expr, None)
        if not isinstance(base, (ast.Name, ast.Attribute)):
            return None
        value = self.quiet_load(base.id, frame) if isinstance(base, ast.Name) else \
            self.quiet_attribute(self.eval(base.value, frame), base.attr, base)
        name = None
        if isinstance(value, Builtin) and isinstance(getattr(builtins, value.name), type):
            name = value.name
        elif isinstance(value, Unknown) and value.text.startswith("typing."):
            name = value.text.partition(".")[2]
            if name in ("Optional", "Union") and argument is not None:
                options = argument.elts if isinstance(argument, ast.Tuple) else [argument]
                rest = [o for o in options if not (isinstance(o, ast.Constant) and o.value is None)]
                if len(rest) == 1 and (name == "Optional" or len(rest) < len(options)):
                    return self.refused_annotation(rest[0], frame, depth + 1)
                return None
            if name not in _TYPING_REFUSED:
                return None
        elif isinstance(value, ImportedName) and value.module == "datetime":
            return None if value.name in ("date", "datetime") else value.name if value.name in _DATETIME else None
        elif isinstance(value, Unknown) and isinstance(base, ast.Name) and value.text == base.id and \
                isinstance(self.bound_at.get(base.id), ast.ClassDef):
            return base.id  # a class of the file
        if name in ("str", "int", "float", "bool"):
            return None if argument is None else name
        if name in ("list", "List"):
            accepted = argument is None or isinstance(argument, ast.Name) and \
                self.quiet_load(argument.id, frame) == Builtin("str")
            return None if accepted else name
        return name

    def quiet_attribute(self, owner, name: str, node):
        try:
            return self.attribute(owner, name, node)
        except (ImportFails, CannotRead):
            return None

    def finish_attributes(self, attrs: dict) -> None:
        """Node attributes as importing would leave them: a task the reader
        cannot know becomes a signature it does not judge; other unknown
        attributes are dropped (validation does not read them)."""
        for key in list(attrs):
            if key == "task":
                attrs[key] = self.task_attribute(attrs[key])
            elif self.has_unknown(attrs[key]):
                del attrs[key]

    def task_attribute(self, value):
        if isinstance(value, TaskValue):
            return _named(value.info.proxy)
        if isinstance(value, ImportedName):
            info = self.imported_task(value)
            if info is not None:
                return _named(info.proxy)
            if self.modules.plain_function(value.module, value.name, self.where):
                return _named("function")
        if isinstance(value, (Function, OpaqueFunction)):
            return _named("function")
        if isinstance(value, Builtin):
            return _named("builtin_function_or_method")
        if not self.has_unknown(value):
            return value
        from celery.canvas import Signature

        placeholder = Signature("?")
        self.signatures[id(placeholder)] = SigInfo(placeholder, None, [f"its task is `{_shown(value)}`, computed at "
                                                                       "run time"])
        return placeholder

    # statements --------------------------------------------------------------------------------------------

    def run(self, body, frame: _Frame) -> None:
        for statement in body:
            self.steps += 1
            if self.steps > STEP_LIMIT:
                self.step(statement)
            self.line = statement.lineno
            handler = _STATEMENTS.get(type(statement))
            if handler is None:
                self.skip([statement], frame, f"a {type(statement).__name__.lower()} statement the reader does "
                                              "not follow")
            else:
                handler(self, statement, frame)

    def do_Expr(self, node, frame):
        self.eval(node.value, frame)

    def do_Pass(self, node, frame):
        pass

    def do_Break(self, node, frame):
        raise _Break()

    def do_Continue(self, node, frame):
        raise _Continue()

    def do_Return(self, node, frame):
        raise _Return(self.eval(node.value, frame) if node.value is not None else None)

    def do_Global(self, node, frame):
        pass  # read when the function's local names are computed

    do_Nonlocal = do_Global

    def do_Assign(self, node, frame):
        value = self.eval(node.value, frame)
        for target in node.targets:
            self.assign(target, value, frame, node)

    def do_AnnAssign(self, node, frame):
        if node.value is not None:
            self.assign(node.target, self.eval(node.value, frame), frame, node)

    def do_AugAssign(self, node, frame):
        target = node.target
        if isinstance(target, ast.Name):
            current = self.load(target.id, frame, target)
        elif isinstance(target, ast.Subscript):
            current = self.subscript(self.eval(target.value, frame), self.eval(target.slice, frame), target)
        else:
            self.skip([node], frame, f"`{_text(node)}` is not followed")
            return
        change = self.eval(node.value, frame)
        if type(current) is list and isinstance(node.op, ast.Add):
            items = self.iterate(change, node.value)
            if items is not None:
                self.grow(current, items, node)
                current.extend(items)  # += on a list extends that very list
                return
        self.assign(target, self.binary(node.op, current, change, node), frame, node)

    def do_Delete(self, node, frame):
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.load(target.id, frame, target)
                owner = frame if frame.local is not None and target.id not in frame.declared_global else self.module
                owner.values.pop(target.id, None)
            elif isinstance(target, ast.Subscript) and type(owner := self.eval(target.value, frame)) in (list, dict) \
                    and self.known(key := self.eval(target.slice, frame)):
                try:
                    del owner[key]
                except (KeyError, IndexError, TypeError) as error:
                    raise self.fails(error, target) from None
            else:
                self.skip([node], frame, f"`{_text(node)}` is not followed")

    def do_If(self, node, frame):
        truth = self.truth(self.eval(node.test, frame))
        if truth is None:
            self.skip([*node.body, *node.orelse], frame, f"whether `{_text(node.test)}` holds is decided at run time",
                      node)
        else:
            self.run(node.body if truth else node.orelse, frame)

    def do_For(self, node, frame):
        items = self.iterate(self.eval(node.iter, frame), node.iter)
        if items is None:
            self.skip([*node.body, *node.orelse], frame, f"the loop runs over `{_text(node.iter)}`, computed at "
                                                         "run time", node, targets=[node.target])
            return
        for item in items:
            self.assign(node.target, item, frame, node)
            try:
                self.run(node.body, frame)
            except _Break:
                return
            except _Continue:
                continue
        self.run(node.orelse, frame)

    def do_While(self, node, frame):
        while True:
            truth = self.truth(self.eval(node.test, frame))
            if truth is None:
                self.skip([*node.body, *node.orelse], frame,
                          f"whether `{_text(node.test)}` holds is decided at run time", node)
                return
            if not truth:
                break
            try:
                self.run(node.body, frame)
            except _Break:
                return
            except _Continue:
                continue
        self.run(node.orelse, frame)

    def do_Try(self, node, frame):
        try:
            self.run(node.body, frame)
        except ImportFails as failure:
            handler = self.handler(node.handlers, failure.kind, frame)
            if handler is None:
                self.run(node.finalbody, frame)
                raise
            if handler.name:
                self.bind(handler.name, Unknown(handler.name), frame, handler)
            self.run(handler.body, frame)
        else:
            self.run(node.orelse, frame)
        self.run(node.finalbody, frame)

    def handler(self, handlers, kind: str, frame):
        """The ``except`` clause that catches a ``kind`` (None: none does);
        reading stops when that cannot be told."""
        raised = _exception_class(kind)
        for handler in handlers:
            if handler.type is None:
                return handler
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            for written in types:
                value = self.eval(written, frame)
                caught = None
                if isinstance(value, Builtin):
                    caught = _exception_class(value.name)
                elif isinstance(value, Unknown) and value.text.startswith("networkx."):
                    caught = _exception_class(value.text.rpartition(".")[2])
                if not isinstance(caught, type) or raised is None and caught not in (Exception, BaseException):
                    raise self.stop(handler, f"whether `except {_text(handler.type)}` catches {kind} is not known")
                if raised is None or issubclass(raised, caught):
                    return handler
        return None

    do_TryStar = do_Try

    def do_With(self, node, frame):
        for item in node.items:
            self.eval(item.context_expr, frame)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, Unknown(_text(item.context_expr)), frame, node)
        self.with_depth += 1  # a context manager may swallow what its block raises
        try:
            self.run(node.body, frame)
        finally:
            self.with_depth -= 1

    def do_Raise(self, node, frame):
        if node.exc is None:
            raise self.stop(node, "a bare `raise`")
        call = node.exc if isinstance(node.exc, ast.Call) else None
        kind = (dotted(call.func if call else node.exc) or _text(node.exc)).rpartition(".")[2]
        arguments = [self.eval(arg, frame) for arg in call.args] if call else []
        shown = [_shown(a) if not self.known(a) else a for a in arguments]
        message = str(shown[0]) if len(shown) == 1 else str(tuple(shown)) if shown else ""
        if kind == "SystemExit" and self.is_builtin(kind, frame) and len(arguments) <= 1 and \
                all(self.known(a) for a in arguments):
            raise self.exits(arguments[0] if arguments else None, node)
        if kind in _EXCEPTIONS and self.is_builtin(kind, frame) and all(self.known(a) for a in arguments):
            try:
                message = str(getattr(builtins, kind)(*arguments))
            except Exception:  # noqa: BLE001, S110 - an exception class refusing these arguments: keep them shown
                pass
        raise self.fails(f"{kind}: {message}", node)

    def do_Assert(self, node, frame):
        if self.truth(self.eval(node.test, frame)) is False:
            message = self.eval(node.msg, frame) if node.msg is not None else ""
            raise self.fails(f"AssertionError: {message if self.known(message) else _text(node.msg)}", node)

    def do_Import(self, node, frame):
        for alias in node.names:
            self.importable(alias.name, node)
            self.imported_modules.append(alias.name)
            if alias.asname:
                self.bind(alias.asname, ModuleValue(alias.name), frame, node)
            else:
                head = alias.name.partition(".")[0]
                self.bind(head, ModuleValue(head), frame, node)

    def do_ImportFrom(self, node, frame):
        if node.level:  # planner imports a graph file as a top-level module
            raise self.fails("ImportError: attempted relative import with no known parent package", node)
        module = node.module or ""
        self.importable(module, node)
        self.imported_modules.append(module)
        for alias in node.names:
            if alias.name == "*":
                self.stars.append(module)
                continue
            value = self.imported(module, alias.name, node)
            self.bind(alias.asname or alias.name, value, frame, node)

    def imported(self, module: str, name: str, node, attribute: bool = False):
        """What ``from module import name`` (``module.name`` when
        ``attribute``) gives: a literal constant of a module read statically
        is its value; a name it certainly lacks fails as importing would."""
        if (module, name) == ("sys", "path"):
            return SysPath()
        if (module, name) in _IMPORT_PATH or module in ("site", "importlib"):
            self.path_changed = True  # where modules are found may change: a missing one is no longer certain
            return Unknown(f"{module}.{name}")
        value = _module_attribute(module, name)
        if isinstance(value, ImportedName):
            missing = None if self.path_changed else self.modules.missing(module, name, self.where, attribute)
            if missing:
                raise self.fails(missing, node)
            found, constant = self.modules.constant(module, name, self.where)
            if found:
                return copy.deepcopy(constant)
        return value

    def do_FunctionDef(self, node, frame):
        if node.decorator_list and self.touches_graph(node.decorator_list, frame):
            raise self.stop(node, f"a decorator of {node.name}() uses the graph")
        info = task_info(node, MODULE_NAME, self.postponed) if node.decorator_list else None
        if info is not None:
            value = TaskValue(info)
        elif node.decorator_list or isinstance(node, ast.AsyncFunctionDef) or _is_generator(node):
            value = OpaqueFunction(node)
        else:
            value = self.function(node, frame)
        self.bind(node.name, value, frame, node)

    do_AsyncFunctionDef = do_FunctionDef

    def do_ClassDef(self, node, frame):
        if self.touches_graph([*node.decorator_list, *node.bases, *node.body], frame):
            raise self.stop(node, f"class {node.name} uses the graph")
        self.bind(node.name, Unknown(node.name), frame, node)

    def function(self, node, frame: _Frame) -> Function:
        args = node.args
        defaults = [self.eval(d, frame) for d in args.defaults]
        kw_defaults = [self.eval(d, frame) if d is not None else _REQUIRED for d in args.kw_defaults]
        return Function(node, frame, defaults, kw_defaults, _local_names(node))

    def skip(self, body, frame, why: str, at=None, targets=()):
        """Statements the reader does not run (it cannot know whether, how
        often or what with they run): harmless while they cannot change a
        graph — what they bind or change becomes unknown — else reading
        stops, saying ``why``."""
        where = self.at(at if at is not None else body[0]) if (body or at is not None) else (self.line, 1)
        statements = [*targets, *body]
        if self.touches_graph(statements, frame):
            raise CannotRead(where, why)
        for statement in statements:
            for name in _assigned(statement):
                self.bind(name, Unknown(name), frame, None)
            for sub in _own_nodes([statement]):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.bind(sub.name, OpaqueFunction(sub), frame, None)
                elif isinstance(sub, ast.Name):
                    value = self.quiet_load(sub.id, frame)
                    if type(value) in (list, dict, set):
                        self.tainted[id(value)] = value

    def touches_graph(self, nodes, frame, seen=None) -> bool:
        """Could running ``nodes`` change a graph? They name one (or
        something holding one), a function of the file that does, or
        dynamic code."""
        seen = set() if seen is None else seen
        for statement in nodes:
            for sub in ast.walk(statement):
                if not isinstance(sub, ast.Name):
                    continue
                if sub.id in _DYNAMIC:
                    return True
                if sub.id in seen:
                    continue
                seen.add(sub.id)
                value = self.quiet_load(sub.id, frame)
                if isinstance(value, (Function, OpaqueFunction)):
                    body = value.node.body if isinstance(value.node.body, list) else [value.node.body]
                    if self.touches_graph(body, frame, seen):
                        return True
                elif self.holds_graph(value):
                    return True
        return False

    def holds_graph(self, value, depth: int = 0) -> bool:
        """Is ``value`` a graph, a view of one, its data, or a container of them?"""
        if isinstance(value, nx.DiGraph) or _is_view(value):
            return True
        if depth > 3 or type(value) not in (dict, list, tuple, set, frozenset):
            return False
        if type(value) is dict and id(value) in self.graph_data:
            return True
        items = value.values() if type(value) is dict else value
        return any(self.holds_graph(item, depth + 1) for item in itertools.islice(items, 10_000))

    # names -------------------------------------------------------------------------------------------------

    def bind(self, name: str, value, frame: _Frame, node) -> None:
        if frame.local is not None and name in frame.declared_global:
            frame = self.module
        frame.values[name] = value
        if frame is self.module and node is not None:
            self.bound_at[name] = node

    def load(self, name: str, frame: _Frame, node):
        """``name`` where ``frame`` runs, by Python's rules (locals,
        enclosing functions, module, builtins)."""
        current = frame
        while current.local is not None:
            if name in current.local and name not in current.declared_global:
                if name in current.values:
                    return self.untainted(current.values[name], name)
                if current is frame:
                    raise self.fails(f"UnboundLocalError: cannot access local variable '{name}' where it is not "
                                     f"associated with a value", node)
                return Unknown(name)
            current = current.parent or self.module
        if name in self.module.values:
            return self.untainted(self.module.values[name], name)
        for module in self.stars:  # `from module import *`: a name the module binds
            if self.modules.binds(module, name, self.where):
                return self.imported(module, name, node)
        if hasattr(builtins, name):
            return Builtin(name)
        if self.stars or self.dynamic:
            return Unknown(name)
        raise self.fails(f"NameError: name '{name}' is not defined", node)

    def untainted(self, value, text: str):
        return Unknown(text) if self.tainted and id(value) in self.tainted else value

    def quiet_load(self, name: str, frame: _Frame):
        try:
            return self.load(name, frame, None)
        except (ImportFails, CannotRead):
            return None

    def is_builtin(self, name: str, frame: _Frame) -> bool:
        return isinstance(self.quiet_load(name, frame), Builtin)

    def assign(self, target, value, frame: _Frame, node) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value, frame, node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, value, frame, node)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, frame, node)
        elif isinstance(target, ast.Subscript):
            owner = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            if isinstance(owner, SysPath):
                self.path_changed = True
            elif type(owner) in (list, dict):
                if not self.known(key):
                    if self.holds_graph(owner):
                        raise self.stop(target, f"`{_text(target)}`: the key is computed at run time")
                    self.tainted[id(owner)] = owner
                    return
                try:
                    owner[key] = value
                except (KeyError, IndexError, TypeError) as error:
                    raise self.fails(error, target) from None
            elif self.holds_graph(owner):
                raise self.stop(target, f"`{_text(target)} = ...` is not followed")
        elif isinstance(target, ast.Attribute):
            owner = self.eval(target.value, frame)
            if isinstance(owner, nx.DiGraph) and target.attr == "name" and self.known(value):
                owner.name = value
            elif isinstance(owner, ModuleValue) and owner.name == "sys":
                self.path_changed = True
            elif self.holds_graph(owner):
                raise self.stop(target, f"`{_text(target)} = ...` is not followed")

    def unpack(self, target, value, frame, node) -> None:
        items = self.iterate(value, target)
        names = target.elts
        if items is None:
            for element in names:
                self.assign(element, Unknown(_text(element)), frame, node)
            return
        starred = [number for number, element in enumerate(names) if isinstance(element, ast.Starred)]
        if not starred:
            if len(items) != len(names):
                problem = (f"too many values to unpack (expected {len(names)})" if len(items) > len(names) else
                           f"not enough values to unpack (expected {len(names)}, got {len(items)})")
                raise self.fails(f"ValueError: {problem}", target)
            for element, item in zip(names, items, strict=True):
                self.assign(element, item, frame, node)
            return
        star, after = starred[0], len(names) - starred[0] - 1
        if len(items) < len(names) - 1:
            raise self.fails(f"ValueError: not enough values to unpack (expected at least {len(names) - 1}, "
                             f"got {len(items)})", target)
        for element, item in zip(names[:star], items[:star], strict=True):
            self.assign(element, item, frame, node)
        self.assign(names[star].value, list(items[star:len(items) - after]), frame, node)
        for element, item in zip(names[star + 1:], items[len(items) - after:], strict=True):
            self.assign(element, item, frame, node)

    # expressions -------------------------------------------------------------------------------------------

    def eval(self, node, frame: _Frame):
        self.steps += 1
        if self.steps > STEP_LIMIT:
            self.step(node)
        handler = _EXPRESSIONS.get(type(node))
        return handler(self, node, frame) if handler is not None else Unknown(_text(node))

    def ev_Constant(self, node, frame):
        return node.value

    def ev_Name(self, node, frame):
        return self.load(node.id, frame, node)

    def ev_NamedExpr(self, node, frame):
        value = self.eval(node.value, frame)
        self.assign(node.target, value, frame, node)
        return value

    def ev_JoinedStr(self, node, frame):
        parts = [self.eval(value, frame) for value in node.values]
        if not all(type(part) is str for part in parts):
            return Unknown(_text(node))
        return self.sized("".join(parts), node)

    def ev_FormattedValue(self, node, frame):
        value = self.eval(node.value, frame)
        spec = self.eval(node.format_spec, frame) if node.format_spec is not None else ""
        if not self.known(value) or type(spec) is not str or _BIG_FORMAT.search(spec):
            return Unknown(_text(node.value))
        conversion = {115: str, 114: repr, 97: ascii}.get(node.conversion)
        try:
            return self.sized(format(conversion(value) if conversion else value, spec), node)
        except (ValueError, TypeError) as error:
            raise self.fails(error, node) from None

    def ev_Tuple(self, node, frame):
        items = self.elements(node.elts, frame)
        return tuple(items) if items is not None else Unknown(_text(node))

    def ev_List(self, node, frame):
        items = self.elements(node.elts, frame)
        return items if items is not None else Unknown(_text(node))

    def ev_Set(self, node, frame):
        items = self.elements(node.elts, frame)
        if items is None or not all(self.known(item) for item in items):
            return Unknown(_text(node))
        return self.call_plain(set, [items], {}, node)

    def ev_Dict(self, node, frame):
        result = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                inner = self.eval(value, frame)
                if type(inner) is not dict or not all(self.known(k) for k in inner):
                    return Unknown(_text(node))
                result.update(inner)
                continue
            key_value = self.eval(key, frame)
            if not self.known(key_value):
                return Unknown(_text(node))
            try:
                result[key_value] = self.eval(value, frame)
            except TypeError as error:
                raise self.fails(error, key) from None
        return result

    def elements(self, nodes, frame) -> list | None:
        items: list = []
        for element in nodes:
            if isinstance(element, ast.Starred):
                inner = self.iterate(self.eval(element.value, frame), element.value)
                if inner is None:
                    return None
                self.grow(items, inner, element)
                items.extend(inner)
            else:
                items.append(self.eval(element, frame))
        return items

    def ev_BinOp(self, node, frame):
        return self.binary(node.op, self.eval(node.left, frame), self.eval(node.right, frame), node)

    def ev_UnaryOp(self, node, frame):
        value = self.eval(node.operand, frame)
        if isinstance(node.op, ast.Not):
            truth = self.truth(value)
            return Unknown(_text(node)) if truth is None else not truth
        if type(value) not in (int, float, complex, bool):
            return Unknown(_text(node))
        function = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}[type(node.op)]
        try:
            return function(value)
        except TypeError as error:
            raise self.fails(error, node) from None

    def ev_BoolOp(self, node, frame):
        is_and = isinstance(node.op, ast.And)
        value = None
        for operand in node.values:
            value = self.eval(operand, frame)
            truth = self.truth(value)
            if truth is None:
                return Unknown(_text(node))
            if truth != is_and:
                return value
        return value

    def ev_Compare(self, node, frame):
        left = self.eval(node.left, frame)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.eval(right_node, frame)
            membership = isinstance(op, (ast.In, ast.NotIn)) and self.known(left) and (
                isinstance(right, nx.DiGraph) or _is_view(right))
            # `x is None` is decided for anything the reader holds but an unknown or an imported name
            identity = isinstance(op, (ast.Is, ast.IsNot)) and any(v is None or type(v) is bool for v in (left, right)) \
                and not any(isinstance(v, (Unknown, ImportedName)) for v in (left, right))
            if not (membership or identity) and not (self.known(left) and self.known(right)):
                return Unknown(_text(node))
            try:
                outcome = _COMPARE[type(op)](left, right)
            except TypeError as error:
                raise self.fails(error, node) from None
            if not outcome:
                return False
            left = right
        return True

    def ev_IfExp(self, node, frame):
        truth = self.truth(self.eval(node.test, frame))
        if truth is None:
            return Unknown(_text(node))
        return self.eval(node.body if truth else node.orelse, frame)

    def ev_Subscript(self, node, frame):
        return self.subscript(self.eval(node.value, frame), self.eval(node.slice, frame), node)

    def ev_Slice(self, node, frame):
        parts = [self.eval(part, frame) if part is not None else None for part in (node.lower, node.upper, node.step)]
        return slice(*parts) if all(self.known(p) for p in parts) else Unknown(_text(node))

    def ev_Attribute(self, node, frame):
        return self.attribute(self.eval(node.value, frame), node.attr, node)

    def ev_Lambda(self, node, frame):
        return self.function(node, frame)

    def ev_ListComp(self, node, frame):
        items = self.comprehension(node, frame, lambda inner: self.eval(node.elt, inner))
        return items if items is not None else Unknown(_text(node))

    ev_GeneratorExp = ev_ListComp

    def ev_SetComp(self, node, frame):
        items = self.comprehension(node, frame, lambda inner: self.eval(node.elt, inner))
        if items is None or not all(self.known(item) for item in items):
            return Unknown(_text(node))
        return self.call_plain(set, [items], {}, node)

    def ev_DictComp(self, node, frame):
        pairs = self.comprehension(node, frame, lambda inner: (self.eval(node.key, inner), self.eval(node.value, inner)))
        if pairs is None or not all(self.known(key) for key, _ in pairs):
            return Unknown(_text(node))
        return self.call_plain(dict, [pairs], {}, node)

    def comprehension(self, node, frame, produce) -> list | None:
        names = frozenset(name for generator in node.generators for name in _target_names(generator.target))
        inner = _Frame({}, names, frame if frame.local is not None else None)
        results: list = []

        def loop(index: int) -> bool:  # one level per generator: a comprehension has a handful
            if index == len(node.generators):
                results.append(produce(inner))
                if len(results) > SIZE_LIMIT:
                    raise self.stop(node, f"`{_text(node)}` is too large to build statically")
                return True
            generator = node.generators[index]
            items = self.iterate(self.eval(generator.iter, inner if index else frame), generator.iter)
            if items is None:
                return False
            for item in items:
                self.assign(generator.target, item, inner, node)
                truths = [self.truth(self.eval(condition, inner)) for condition in generator.ifs]
                if None in truths:
                    return False
                if all(truths) and not loop(index + 1):
                    return False
            return True

        return results if loop(0) else None

    def ev_Call(self, node, frame):
        function = self.eval(node.func, frame)
        args, kwargs, complete = self.arguments(node, frame)
        return self.call(function, args, kwargs, complete, node, frame)

    def arguments(self, node, frame) -> tuple[list, dict, bool]:
        """(positional values, keyword values, whether ``*``/``**`` unpacked
        only known things)."""
        args: list = []
        kwargs: dict = {}
        complete = True
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                items = self.iterate(self.eval(arg.value, frame), arg.value)
                if items is None:
                    complete = False
                else:
                    args.extend(items)
            else:
                args.append(self.eval(arg, frame))
        for keyword in node.keywords:
            value = self.eval(keyword.value, frame)
            if keyword.arg is not None:
                kwargs[keyword.arg] = value
            elif type(value) is dict and all(type(k) is str for k in value):
                kwargs.update(value)
            else:
                complete = False
        return args, kwargs, complete

    # values ------------------------------------------------------------------------------------------------

    def known(self, value, depth: int = 0) -> bool:
        """Plain data with nothing unknown in it."""
        kind = type(value)
        if kind in _SCALARS:
            return True
        if depth > 20 or (self.tainted and id(value) in self.tainted):
            return False
        if kind in (list, tuple, set, frozenset):
            return all(self.known(item, depth + 1) for item in value)
        if kind is dict:
            return all(self.known(k, depth + 1) and self.known(v, depth + 1) for k, v in value.items())
        return kind is object

    def has_unknown(self, value, depth: int = 0) -> bool:
        """Is something in ``value`` unknown, or only named by the reader?"""
        if isinstance(value, _MARKERS) or (self.tainted and id(value) in self.tainted):
            return True
        if depth > 20:
            return False
        kind = type(value)
        if kind in (list, tuple, set, frozenset):
            return any(self.has_unknown(item, depth + 1) for item in value)
        if kind is dict:
            return any(self.has_unknown(k, depth + 1) or self.has_unknown(v, depth + 1) for k, v in value.items())
        return False

    def truth(self, value) -> bool | None:
        if _plain(value):
            return bool(value)
        if isinstance(value, nx.DiGraph) or _is_view(value):
            return len(value) > 0
        return None

    def sized(self, value, node):
        if type(value) in (str, bytes, list, tuple, set, frozenset, dict):
            self.building(len(value), node)
            if len(value) > SIZE_LIMIT:
                return Unknown(_text(node))
        return value

    def building(self, size: int, node) -> None:
        self.built += size
        if self.built > BUILD_LIMIT:
            raise self.stop(node, f"it builds more than {BUILD_LIMIT:,} items to follow")

    def grow(self, items: list, more: list, node) -> None:
        if len(items) + len(more) > SIZE_LIMIT:
            raise self.stop(node, f"`{_text(node)}` is too large to build statically")

    def binary(self, op, left, right, node):
        if self.is_signature(left) or self.is_canvas(left):
            if isinstance(op, ast.BitOr) and (self.is_signature(right) or self.is_canvas(right)):
                return self.celery(lambda: left | right, node)
            return Unknown(_text(node))
        if not (self.known(left) and self.known(right)) or not _small_enough(op, left, right):
            return Unknown(_text(node))
        try:
            return self.sized(_BINARY[type(op)](left, right), node)
        except (ArithmeticError, TypeError, ValueError, KeyError) as error:
            raise self.fails(error, node) from None

    def subscript(self, owner, key, node):
        if not self.known(key) or not (_plain(owner) or _is_view(owner) or isinstance(owner, nx.DiGraph)) \
                or self.has_tainted(owner):
            return Unknown(_text(node))
        try:
            value = owner[key]
        except (KeyError, IndexError, TypeError, ValueError, nx.NetworkXError) as error:
            raise self.fails(error, node) from None
        return self.untainted(value, _text(node))

    def has_tainted(self, value) -> bool:
        return bool(self.tainted) and id(value) in self.tainted

    def iterate(self, value, node) -> list | None:
        """The items ``for x in value`` goes through; None when unknown."""
        if self.has_tainted(value):
            return None
        kind = type(value)
        if kind is range and not _small_range(value):
            raise self.stop(node, f"`{_text(node)}` is too large to follow statically")
        if kind in (list, tuple, str, bytes, range, dict) or _is_view(value) or isinstance(value, nx.DiGraph):
            self.building(len(value), node)
            return list(value)
        if kind in (set, frozenset):
            return list(value) if self.known(value) else None
        if kind in (int, float, bool, type(None), complex):
            raise self.fails(TypeError(f"'{kind.__name__}' object is not iterable"), node)
        return None

    def is_signature(self, value) -> bool:
        return id(value) in self.signatures and self.signatures[id(value)].sig is value

    @staticmethod
    def is_canvas(value) -> bool:
        return type(value).__module__ == "celery.canvas" and type(value).__name__ in ("_chain", "group", "_chord")

    def celery(self, build, node):
        try:
            return build()
        except Exception:  # noqa: BLE001 - Celery refused the data: what it builds stays unknown
            return Unknown(_text(node))

    def call_plain(self, function, args, kwargs, node):
        """A pure standard-library call on known data; what it raises is
        what importing would raise."""
        try:
            return self.sized(function(*args, **kwargs), node)
        except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            raise self.fails(error, node) from None

    # attributes --------------------------------------------------------------------------------------------

    def attribute(self, owner, name: str, node):
        if isinstance(owner, ModuleValue):
            return self.imported(owner.name, name, node, attribute=True)
        if isinstance(owner, ImportedName):
            if name in _SIGNATURE_METHODS:
                return Method(owner, name)
            return self.imported(f"{owner.module}.{owner.name}", name, node, attribute=True)
        if isinstance(owner, TaskValue):
            if name in _SIGNATURE_METHODS:
                return Method(owner, name)
            return owner.info.name if name == "name" else Unknown(_text(node))
        if isinstance(owner, CeleryApp):
            return Method(owner, name) if name == "signature" else Unknown(_text(node))
        if isinstance(owner, SysPath):
            return Method(owner, name)
        if isinstance(owner, nx.DiGraph):
            return getattr(owner, name) if name in _GRAPH_VIEWS else Method(owner, name)
        if _is_view(owner):
            return Method(owner, name) if name in ("data", "items", "keys", "values", "get") else Unknown(_text(node))
        if self.is_signature(owner):
            if name in _SIG_METHODS:
                return Method(owner, name)
            return getattr(owner, name) if name in ("args", "kwargs", "task", "immutable") else Unknown(_text(node))
        if isinstance(owner, (Function, OpaqueFunction)):
            if name == "__name__":
                return getattr(owner.node, "name", "<lambda>")
            raise self.fails(f"AttributeError: 'function' object has no attribute '{name}'", node)
        if _plain(owner):
            if name in _METHODS.get(type(owner), ()):
                return Method(owner, name)
            if not hasattr(owner, name):
                raise self.fails(f"AttributeError: '{type(owner).__name__}' object has no attribute '{name}'", node)
        return Unknown(_text(node))

    # calls -------------------------------------------------------------------------------------------------

    def call(self, function, args, kwargs, complete, node, frame):
        exiting = function in (ImportedName("sys", "exit"), Builtin("exit"), Builtin("quit"))
        if exiting and complete and not kwargs and len(args) <= 1 and all(self.known(a) for a in args):
            raise self.exits(args[0] if args else None, node)
        if isinstance(function, Method):
            return self.call_method(function, args, kwargs, complete, node, frame)
        if isinstance(function, Function) and complete:
            return self.run_function(function, args, kwargs, node)
        if isinstance(function, Builtin):
            return self.call_builtin(function.name, args, kwargs, complete, node, frame)
        if isinstance(function, Special):
            return self.call_special(function, args, kwargs, complete, node)
        if _is_view(function):
            if not complete or not all(self.known(a) for a in [*args, *kwargs.values()]):
                return Unknown(_text(node))
            return self.call_plain(lambda *a, **k: _listed(function(*a, **k)), args, kwargs, node)
        if _plain(function):
            raise self.fails(f"TypeError: '{type(function).__name__}' object is not callable", node)
        return self.opaque_call(function, args, kwargs, node, frame)

    def opaque_call(self, function, args, kwargs, node, frame):
        """A call the reader does not follow: its result is unknown and what
        it receives may change; if it can reach a graph, reading stops."""
        values = [*args, *kwargs.values()]
        if any(self.holds_graph(value) for value in values) or (
                isinstance(function, (Function, OpaqueFunction)) and self.touches_graph([function.node], frame)):
            raise self.stop(node, f"`{_text(node)}` runs code the reader does not follow")
        for value in values:
            if type(value) in (list, dict, set):
                self.tainted[id(value)] = value
        return Unknown(_text(node))

    def run_function(self, function: Function, args, kwargs, node):
        if self.depth >= DEPTH_LIMIT:
            raise self.stop(node, "functions call each other too deeply to follow")
        definition = function.node
        try:
            bound = _parameters(definition, function.defaults, function.kw_defaults).bind(*args, **kwargs)
        except TypeError as error:
            raise self.fails(f"TypeError: {getattr(definition, 'name', '<lambda>')}() {error}", node) from None
        bound.apply_defaults()
        declared = frozenset(name for sub in _own_nodes(_body(definition)) if isinstance(sub, ast.Global)
                             for name in sub.names)
        inner = _Frame(dict(bound.arguments), function.local_names,
                       function.frame if function.frame.local is not None else None, declared)
        self.depth += 1
        line = self.line
        try:
            if isinstance(definition, ast.Lambda):
                return self.eval(definition.body, inner)
            self.run(definition.body, inner)
            return None
        except _Return as done:
            return done.value
        finally:
            self.depth -= 1
            self.line = line

    def call_builtin(self, name, args, kwargs, complete, node, frame):
        if name in _DYNAMIC and name != "getattr":  # it may run code or bind names the reader cannot see
            raise self.stop(node, f"`{_text(node)}` runs code the reader does not follow")
        if name == "getattr" and complete and len(args) == 2 and type(args[1]) is str \
                and isinstance(args[0], (ModuleValue, ImportedName)):
            return self.attribute(args[0], args[1], node)
        if name not in _SAFE_BUILTINS or not complete:
            return self.opaque_call(Builtin(name), args, kwargs, node, frame)
        if name == "print":
            return None  # what it prints changes nothing the graph holds
        if name == "object" and not args and not kwargs:
            return object()
        if name in ("map", "filter") or (name in ("sorted", "min", "max") and "key" in kwargs):
            return self.call_with_function(name, args, kwargs, node, frame)
        if name == "isinstance":
            return self.isinstance_call(args, node)
        values = [*args, *kwargs.values()]
        if any(type(v) is range and not _small_range(v) for v in values) or \
                (name in ("bytes", "bytearray") and any(type(v) is int and v > SIZE_LIMIT for v in args)):
            return Unknown(_text(node))
        args = [list(a) if _is_view(a) or isinstance(a, nx.DiGraph) else a for a in args]
        readable = all(self.known(v) or (name in _STRUCTURAL and type(v) in (list, tuple, dict)
                                         and not self.has_tainted(v)) for v in [*args, *kwargs.values()])
        if not readable:
            return Unknown(_text(node))
        function = getattr(builtins, name)
        if name in ("enumerate", "zip", "reversed", "map", "filter"):
            return self.call_plain(lambda *a, **k: list(function(*a, **k)), args, kwargs, node)
        return self.call_plain(function, args, kwargs, node)

    def isinstance_call(self, args, node):
        if len(args) != 2:
            return Unknown(_text(node))
        kinds = args[1] if type(args[1]) is tuple else (args[1],)
        if not all(isinstance(kind, Builtin) and isinstance(getattr(builtins, kind.name), type) for kind in kinds):
            return Unknown(_text(node))
        if not (_plain(args[0]) or args[0] is None):
            return Unknown(_text(node))
        return isinstance(args[0], tuple(getattr(builtins, kind.name) for kind in kinds))

    def call_with_function(self, name, args, kwargs, node, frame):
        """``map``/``filter``/``sorted(key=...)``/``min``/``max`` with a
        function the reader runs itself."""
        def apply(function, *values):
            return self.call(function, list(values), {}, True, node, frame)

        if name in ("map", "filter"):
            iterables = [self.iterate(a, node) for a in args[1:]]
            if not args or not iterables or any(items is None for items in iterables):
                return Unknown(_text(node))
            if name == "map":
                return [apply(args[0], *values) for values in zip(*iterables, strict=False)]
            if args[0] is None:
                return [value for value in iterables[0] if self.truth(value)]
            kept = []
            for value in iterables[0]:
                truth = self.truth(apply(args[0], value))
                if truth is None:
                    return Unknown(_text(node))
                if truth:
                    kept.append(value)
            return kept
        items = self.iterate(args[0], node) if len(args) == 1 else None
        if items is None:
            return Unknown(_text(node))
        keys = [apply(kwargs["key"], item) for item in items]
        if not all(self.known(k) for k in keys) or not self.known(kwargs.get("reverse", False)):
            return Unknown(_text(node))
        order = list(range(len(items)))
        try:
            if name == "sorted":
                order.sort(key=lambda index: keys[index], reverse=bool(kwargs.get("reverse", False)))
                return [items[index] for index in order]
            if not items:
                raise self.fails(f"ValueError: {name}() iterable argument is empty", node)
            chosen = (min if name == "min" else max)(order, key=lambda index: keys[index])
        except TypeError as error:
            raise self.fails(error, node) from None
        return items[chosen]

    def call_method(self, method: Method, args, kwargs, complete, node, frame):
        owner, name = method.owner, method.name
        if isinstance(owner, (ImportedName, TaskValue)):
            return self.task_signature(owner, name, args, kwargs, complete, node)
        if isinstance(owner, CeleryApp):
            return self.named_signature(args, kwargs, complete, node)
        if isinstance(owner, SysPath):
            return self.change_path(name, args, kwargs, complete)
        if isinstance(owner, nx.DiGraph):
            return self.graph_call(owner, name, args, kwargs, complete, node)
        if self.is_signature(owner):
            return self.signature_method(owner, name, args, kwargs, complete, node)
        if _is_view(owner):
            if not complete or not all(self.known(a) for a in [*args, *kwargs.values()]):
                return Unknown(_text(node))
            return self.call_plain(lambda *a, **k: _listed(getattr(owner, name)(*a, **k)), args, kwargs, node)
        if not complete or self.has_tainted(owner):
            return self.opaque_call(method, args, kwargs, node, frame)
        arguments = [*args, *kwargs.values()]
        if name in _STRUCTURAL_METHODS and type(owner) in (list, dict):
            readable = self.structural_arguments(owner, name, args, kwargs)
        else:
            readable = self.known(owner) and all(self.known(a) for a in arguments)
        if not readable:
            if type(owner) in (list, dict, set) and name in _METHODS.get(type(owner), ()) and name not in (
                    "index", "count", "copy", "get", "items", "keys", "values"):
                if self.holds_graph(owner):
                    raise self.stop(node, f"`{_text(node)}` changes graph data with what is computed at run time")
                self.tainted[id(owner)] = owner  # changed in a way the reader cannot follow
            return Unknown(_text(node))
        if type(owner) in (str, bytes) and not _small_text_call(owner, name, args, kwargs):
            return Unknown(_text(node))
        if name in ("extend", "update") and len(owner) + sum(len(a) for a in arguments if hasattr(a, "__len__")) \
                > SIZE_LIMIT:
            raise self.stop(node, f"`{_text(node)}` is too large to build statically")
        return self.call_plain(lambda *a, **k: _listed(getattr(owner, name)(*a, **k)), args, kwargs, node)

    def structural_arguments(self, owner, name, args, kwargs) -> bool:
        """Methods that store or return items without looking into them:
        the keys (and positions) must be known, the values need not be."""
        if name in ("append", "items", "keys", "values", "copy", "reverse", "clear", "popitem"):
            return True
        if name == "extend":
            return len(args) == 1 and type(args[0]) in (list, tuple) and not self.has_tainted(args[0])
        if name == "pop":
            return not args or self.known(args[0])
        if name in ("insert", "setdefault", "get"):
            return bool(args) and self.known(args[0])
        if name == "update":
            sources = [*args, kwargs]
            return all(type(source) is dict and all(self.known(k) for k in source) for source in sources) or (
                len(args) == 1 and type(args[0]) in (list, tuple) and all(
                    type(pair) in (list, tuple) and len(pair) == 2 and self.known(pair[0]) for pair in args[0]))
        return False

    # graphs ------------------------------------------------------------------------------------------------

    def graph_call(self, graph: nx.DiGraph, name, args, kwargs, complete, node):
        if name in _GRAPH_COPIES:
            return self.derived_graph(lambda *a, **k: getattr(graph, name)(*a, **k), args, kwargs, complete, node)
        if name not in _GRAPH_BUILDERS and name not in _GRAPH_READERS:
            raise self.stop(node, f"`{_text(node)}` is not a graph method the reader follows")
        if not complete:
            raise self.stop(node, f"`{_text(node)}` unpacks what is computed at run time")
        if name in _GRAPH_READERS:
            if not all(self.known(a) for a in [*args, *kwargs.values()]):
                return Unknown(_text(node))
            return self.call_plain(lambda *a, **k: _listed(getattr(graph, name)(*a, **k)), args, kwargs, node)
        if name.endswith("_from") and args:
            items = self.iterate(args[0], node)
            if items is None:
                raise self.stop(node, f"`{_text(node)}`: what it adds is computed at run time")
            if len(graph) + len(items) > SIZE_LIMIT:
                raise self.stop(node, f"`{_text(node)}` is too large to build statically")
            args = [items, *args[1:]]
        named = _named_nodes(name, args)
        for value in named:
            if not self.known(value):
                raise self.stop(node, f"`{_text(node)}`: a node's name is computed at run time")
        if name.endswith("_from") and args and not all(self.known(item) or type(item) in (tuple, list)
                                                       for item in args[0]):
            raise self.stop(node, f"`{_text(node)}`: what it adds is computed at run time")
        try:
            getattr(graph, name)(*args, **kwargs)
        except (nx.NetworkXError, TypeError, ValueError, KeyError) as error:
            raise self.fails(error, node) from None
        if name.startswith("add"):
            at = self.at(node)
            record = self.positions if name in ("add_node", "add_nodes_from") else self.edge_positions
            for value in named:
                record.setdefault(str(value), at)
            self.owns(graph, named)
        return None

    def new_graph(self, args, kwargs, complete, node):
        if not complete or not all(self.known(a) or isinstance(a, nx.DiGraph) for a in [*args, *kwargs.values()]):
            raise self.stop(node, f"`{_text(node)}` is built from what is computed at run time")
        try:
            graph = nx.DiGraph(*args, **kwargs)
        except (nx.NetworkXError, TypeError, ValueError) as error:
            raise self.fails(error, node) from None
        at = self.at(node)
        for name in graph:
            self.edge_positions.setdefault(str(name), at)
        self.owns(graph, graph)
        return graph

    def owns(self, graph: nx.DiGraph, nodes) -> None:
        """Remember the attribute dicts of ``nodes`` (and the graph's own
        dict) as the graph's data: code the reader does not follow must not
        get them."""
        self.graph_data[id(graph.graph)] = graph.graph
        for name in nodes:
            if name in graph:
                attrs = graph.nodes[name]
                self.graph_data[id(attrs)] = attrs

    def derived_graph(self, build, args, kwargs, complete, node):
        """A graph built by networkx from graphs the reader holds (``copy``,
        ``subgraph``, ``nx.compose``, ``nx.relabel_nodes``...): the same
        attribute values in new dicts, so the signatures stay the reader's."""
        def readable(value) -> bool:
            if isinstance(value, nx.DiGraph) or self.known(value):
                return True
            return type(value) in (list, tuple) and all(isinstance(item, nx.DiGraph) for item in value)

        if not complete or not all(readable(value) for value in [*args, *kwargs.values()]):
            raise self.stop(node, f"`{_text(node)}` builds a graph from what is computed at run time")
        try:
            graph = build(*args, **kwargs)
        except (nx.NetworkXError, TypeError, ValueError, KeyError) as error:
            raise self.fails(error, node) from None
        if type(graph) is not nx.DiGraph:
            raise self.stop(node, f"`{_text(node)}` does not build a networkx.DiGraph the reader follows")
        self.building(graph.number_of_nodes() + graph.number_of_edges(), node)
        for _, attrs in graph.nodes(data=True):
            task = attrs.get("task")
            if isinstance(task, dict) and not self.is_signature(task):  # copied by networkx: not the reader's
                raise self.stop(node, f"`{_text(node)}` copies the graph's signatures, which the reader cannot follow")
        at = self.at(node)
        for name in graph:
            self.edge_positions.setdefault(str(name), at)
        self.owns(graph, graph)
        return graph

    def nx_function(self, name, args, kwargs, complete, node):
        if name == "DiGraph":
            return self.new_graph(args, kwargs, complete, node)
        if name in _NX_BUILDERS:
            return self.derived_graph(getattr(nx, name), args, kwargs, complete, node)
        if name in _NX_READERS:
            if not complete or not args or not isinstance(args[0], nx.DiGraph) or \
                    not all(self.known(value) for value in [*args[1:], *kwargs.values()]):
                return Unknown(_text(node))
            try:
                return self.sized(_listed(getattr(nx, name)(*args, **kwargs)), node)
            except nx.NetworkXException as error:
                raise self.fails(error, node) from None
        if not complete or not args or not isinstance(args[0], nx.DiGraph):
            raise self.stop(node, f"`{_text(node)}` is not followed by the reader")
        graph = args[0]
        if name in ("add_path", "add_star", "add_cycle"):
            items = self.iterate(args[1], node) if len(args) > 1 else None
            if items is None or not all(self.known(item) for item in items):
                raise self.stop(node, f"`{_text(node)}`: its nodes are computed at run time")
            args = [graph, items, *args[2:]]
            added = items
        else:
            if not all(self.known(key) for value in [*args[1:], *kwargs.values()] if type(value) is dict
                       for key in value):
                raise self.stop(node, f"`{_text(node)}`: what it sets is computed at run time")
            added = []
        try:
            getattr(nx, name)(*args, **kwargs)
        except (nx.NetworkXError, TypeError, ValueError, KeyError) as error:
            raise self.fails(error, node) from None
        at = self.at(node)
        for value in added:
            self.edge_positions.setdefault(str(value), at)
        self.owns(graph, added)
        return None

    # signatures --------------------------------------------------------------------------------------------

    def imported_task(self, name: ImportedName) -> TaskInfo | None:
        return self.modules.task(name.module, name.name, self.where)

    def task_signature(self, owner, method, args, kwargs, complete, node):
        if isinstance(owner, TaskValue):
            info, written = owner.info, owner.info.name
        else:
            info, written = self.imported_task(owner), f"{owner.module}.{owner.name}"
        task = info.name if info is not None else written
        if method in ("s", "si"):
            return self.make_signature(info, task, args, kwargs, method == "si", {}, complete, node)
        return self.signature_call(info, task, args, kwargs, complete, node)

    def signature_call(self, info, task, args, kwargs, complete, node):
        """``task.signature(args, kwargs, immutable=..., **options)``, with
        the keywords of Celery's ``Signature``."""
        try:
            values = _SIGNATURE.bind(*args, **kwargs).arguments
        except TypeError as error:
            raise self.fails(error, node) from None
        options = values.get("options") or {}
        options = {**options, **values.get("ex", {})} if type(options) is dict else values.get("ex", {})
        sig_args, sig_kwargs = values.get("args") or (), values.get("kwargs") or {}
        if type(sig_args) not in (tuple, list) or type(sig_kwargs) is not dict:
            sig_args, sig_kwargs, complete = (), {}, False
        immutable = values.get("immutable", False)
        if not self.known(immutable):
            immutable, complete = False, False
        return self.make_signature(info, task, list(sig_args), dict(sig_kwargs), bool(immutable), options, complete,
                                   node)

    def named_signature(self, args, kwargs, complete, node):
        """``signature("proj.tasks.add", ...)``, ``app.signature(...)``."""
        if not args or not complete:
            return Unknown(_text(node))
        name = args[0]
        if self.is_signature(name):
            return self.signature_method(name, "clone", [], {}, True, node)
        if type(name) is not str:
            return Unknown(_text(node))
        info = self.modules.registered(name, self.where, self.imported_modules)
        return self.signature_call(info, name, args[1:], kwargs, complete, node)

    def make_signature(self, info: TaskInfo | None, task: str, args, kwargs, immutable, options, complete, node):
        from celery.canvas import Signature

        unknown = [item for item in [*args, *kwargs.values()] if self.has_unknown(item)]
        sig = Signature(task, tuple(self.materialize(a) for a in args),
                        {str(k): self.materialize(v) for k, v in kwargs.items()},
                        {str(k): self.materialize(v) for k, v in options.items()}, immutable=immutable)
        parameters = info.parameters if info is not None else None
        reasons = []
        if info is None:
            reasons.append(f"task '{task}' is not a decorated function lint can find")
        elif info.parameters is None:
            reasons.append(f"another decorator under @task changes the parameters of '{task}'")
        if not complete:
            parameters = None
            reasons.append(f"`{_text(node)}` unpacks arguments computed at run time")
        elif unknown:
            reasons.append(f"its argument(s) {', '.join(_shown(item) for item in unknown)} are computed at run "
                           f"time (not checked for JSON)")
        self.signatures[id(sig)] = SigInfo(sig, parameters, reasons)
        return sig

    def materialize(self, value, depth: int = 0):
        """``value`` as a signature holds it: what is unknown prints as written."""
        if isinstance(value, _MARKERS) or self.has_tainted(value):
            return Unread(_shown(value))
        if depth > 20:
            return value
        kind = type(value)
        if kind is list:
            return [self.materialize(item, depth + 1) for item in value]
        if kind is tuple:
            return tuple(self.materialize(item, depth + 1) for item in value)
        if kind is dict:
            return {self.materialize(k, depth + 1): self.materialize(v, depth + 1) for k, v in value.items()}
        return value

    def signature_method(self, sig, name, args, kwargs, complete, node):
        info = self.signatures[id(sig)]
        if name in ("link", "link_error"):
            return args[0] if args else Unknown(_text(node))
        if name in ("on_error", "set") and (not complete or name == "on_error"):
            return sig  # options and errbacks: nothing validation reads
        if name == "set_immutable":
            if args and self.known(args[0]):
                sig.set_immutable(bool(args[0]))
            return None
        if not complete or not all(self.known(v) or self.is_signature(v) for v in [*args, *kwargs.values()]):
            return Unknown(_text(node))
        try:
            result = getattr(sig, name)(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - Celery refused the data, as it would at import
            raise self.fails(error, node) from None
        if result is not sig and result is not None:
            self.signatures[id(result)] = SigInfo(result, info.parameters, list(info.reasons))
        return result

    def call_special(self, function, args, kwargs, complete, node):
        kind, name = function.kind, function.name
        if kind == "nx":
            return self.nx_function(name, args, kwargs, complete, node)
        if kind == "celery":
            if name == "Celery":
                return CeleryApp()
            if name in _SIGNATURE_FUNCTIONS:
                return self.named_signature(args, kwargs, complete, node)
            members = [*args, *kwargs.values()]
            if not complete or not all(self.is_signature(m) or self.is_canvas(m) or type(m) in (list, tuple)
                                       for m in members):
                return Unknown(_text(node))
            import celery.canvas

            return self.celery(lambda: getattr(celery.canvas, name)(*args, **kwargs), node)
        if kind == "os.path":  # pure string functions on paths
            if not complete or kwargs or not all(type(a) is str for a in args):
                return Unknown(_text(node))
            return self.call_plain(getattr(os.path, name), args, {}, node)
        if kind == "itertools":
            if not complete or not all(self.known(a) for a in [*args, *kwargs.values()]):
                return Unknown(_text(node))
            if name == "repeat" and len(args) < 2 and "times" not in kwargs:
                return Unknown(_text(node))
            limit = SIZE_LIMIT // 10  # each item may be a tuple
            try:
                items = list(itertools.islice(getattr(itertools, name)(*args, **kwargs), limit + 1))
            except (TypeError, ValueError) as error:
                raise self.fails(error, node) from None
            if len(items) > limit:
                raise self.stop(node, f"`{_text(node)}` is too large to follow statically")
            return self.sized(items, node)
        return Unknown(_text(node))


# Handlers by node type: ``do_X`` runs statement ``ast.X``, ``ev_X`` evaluates expression ``ast.X``.
_STATEMENTS = {getattr(ast, name[3:]): handler for name, handler in vars(_Reader).items()
               if name.startswith("do_") and hasattr(ast, name[3:])}
_EXPRESSIONS = {getattr(ast, name[3:]): handler for name, handler in vars(_Reader).items()
                if name.startswith("ev_") and hasattr(ast, name[3:])}


def _exception_class(name: str):
    """The exception class ``name`` raises (builtin or networkx), else None."""
    found = getattr(builtins, name, None)
    if found is None and name.startswith("NetworkX"):
        found = getattr(nx, name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _module_attribute(module: str, name: str):
    """``module.name`` (or ``from module import name``)."""
    if (module, name) in _CONSTANTS:
        return _CONSTANTS[(module, name)]
    if module in _SPECIAL_MODULES:
        kind, names = _SPECIAL_MODULES[module]
        if name in names:
            return Special(kind, name)
    if (module, name) == ("celery", "canvas"):
        return ModuleValue("celery.canvas")
    if module.partition(".")[0] in ("networkx", "celery", "itertools", "typing", "math", "string"):
        return Unknown(f"{module}.{name}")
    return ImportedName(module, name)


def _annotated(function) -> list:
    """The annotated parameters of a graph function that ``--param`` sets."""
    args = function.args
    return [arg for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs] if arg.annotation is not None]


def _opaque_kind(node) -> str:
    if getattr(node, "decorator_list", None):
        return "decorated"
    return "async" if isinstance(node, ast.AsyncFunctionDef) else "generator"


def _shown(value) -> str:
    if isinstance(value, Unknown):
        return value.text
    if isinstance(value, ImportedName):
        return f"{value.module}.{value.name}"
    if isinstance(value, TaskValue):
        return value.info.definition.name
    if isinstance(value, (Function, OpaqueFunction)):
        return getattr(value.node, "name", "<lambda>")
    return str(value) if isinstance(value, Unread) else repr(value)


def _is_view(value) -> bool:
    return type(value).__module__ in ("networkx.classes.reportviews", "networkx.classes.coreviews")


def _listed(value):
    """Iterators and dict views as lists (what a loop over them sees)."""
    if isinstance(value, (type({}.keys()), type({}.values()), type({}.items()))) or inspect.isgenerator(value) \
            or type(value).__name__.endswith("iterator"):
        return list(itertools.islice(value, SIZE_LIMIT))
    return value


def _small_range(value: range) -> bool:
    try:
        return len(value) <= SIZE_LIMIT
    except OverflowError:
        return False


def _small_enough(op, left, right) -> bool:
    """Would ``left op right`` stay within the limits? (Checked before it
    is computed: ``"x" * 10**12`` must never be built.)"""
    if isinstance(op, ast.Mult):
        for sequence, times in ((left, right), (right, left)):
            if type(sequence) in (str, bytes, list, tuple) and type(times) in (int, bool):
                return len(sequence) * max(times, 0) <= SIZE_LIMIT
        if type(left) is int and type(right) is int:
            return left.bit_length() + right.bit_length() <= 100_000
    if isinstance(op, ast.Pow) and type(left) is int and type(right) is int and abs(left) > 1:
        return right * math.log2(abs(left)) <= 100_000
    if isinstance(op, ast.LShift) and type(right) is int:
        return right <= 100_000
    if isinstance(op, ast.Mod) and type(left) in (str, bytes):
        return not _BIG_FORMAT.search(left if type(left) is str else left.decode(errors="replace"))
    if isinstance(op, ast.Add) and type(left) in (str, bytes, list, tuple) and hasattr(right, "__len__"):
        return len(left) + len(right) <= SIZE_LIMIT
    return True


def _small_text_call(owner, name: str, args, kwargs) -> bool:
    """Does a string method stay within the limits?"""
    numbers = [a for a in [*args, *kwargs.values()] if type(a) is int]
    if name in ("zfill", "ljust", "rjust", "center"):
        return all(n <= SIZE_LIMIT for n in numbers)
    if name == "replace" and len(args) >= 2 and type(args[1]) is type(owner):
        grows = owner.count(args[0]) if args[0] else len(owner) + 1
        return len(owner) + grows * len(args[1]) <= SIZE_LIMIT
    if name == "format":
        return type(owner) is str and not _BIG_FORMAT.search(owner)
    if name == "join" and args and hasattr(args[0], "__len__"):
        return sum(len(a) for a in args[0] if hasattr(a, "__len__")) + len(owner) * len(args[0]) <= SIZE_LIMIT
    return True


def _named_nodes(name: str, args) -> list:
    """The nodes a graph call names, in order."""
    if not args:
        return []
    if name in ("add_node", "remove_node"):
        return [args[0]]
    if name in ("add_edge", "remove_edge"):
        return list(args[:2])
    if name in ("clear", "clear_edges"):
        return []
    found = []
    for item in args[0]:
        if name in ("add_nodes_from", "remove_nodes_from"):
            pair = type(item) is tuple and len(item) == 2 and type(item[1]) is dict
            found.append(item[0] if pair else item)
        elif type(item) in (tuple, list):
            found.extend(item[:2])
        else:
            found.append(item)
    return found


def _parameters(definition, defaults, kw_defaults) -> inspect.Signature:
    kind = inspect.Parameter
    args = definition.args
    positional = [*args.posonlyargs, *args.args]
    padded = [_REQUIRED] * (len(positional) - len(defaults)) + list(defaults)
    parameters = [kind(arg.arg, kind.POSITIONAL_ONLY if number < len(args.posonlyargs) else kind.POSITIONAL_OR_KEYWORD,
                       default=default) for number, (arg, default) in enumerate(zip(positional, padded, strict=True))]
    if args.vararg:
        parameters.append(kind(args.vararg.arg, kind.VAR_POSITIONAL))
    parameters += [kind(arg.arg, kind.KEYWORD_ONLY, default=default)
                   for arg, default in zip(args.kwonlyargs, kw_defaults, strict=True)]
    if args.kwarg:
        parameters.append(kind(args.kwarg.arg, kind.VAR_KEYWORD))
    return inspect.Signature(parameters)


def _body(definition) -> list:
    return definition.body if isinstance(definition.body, list) else [definition.body]


def _is_generator(node) -> bool:
    return any(isinstance(sub, (ast.Yield, ast.YieldFrom)) for sub in _own_nodes(node.body))


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)


def _own_nodes(body):
    """The nodes of ``body``, not of the scopes in it (functions, lambdas,
    classes, comprehensions): those are yielded but not entered."""
    stack = list(body)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _target_names(target) -> list[str]:
    return [node.id for node in ast.walk(target) if isinstance(node, ast.Name)]


def _assigned(statement) -> set[str]:
    """The names ``statement`` (and the blocks in it) binds in its scope."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    names: set[str] = set()
    for node in _own_nodes([statement]):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).partition(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not statement:
            names.add(node.name)
    return names


def _local_names(function) -> frozenset:
    """The names local to a function or lambda: its parameters and what its
    body binds, less what it declares global or nonlocal."""
    args = function.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared = set()
    for statement in _body(function):
        names |= _assigned(statement)
        for node in _own_nodes([statement]):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
    return frozenset(names - declared)
