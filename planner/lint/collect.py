"""The static walk over one Python file: the Celery tasks it defines, the
canvases it builds (``chain``/``group``/``chord``, ``a | b``, ``.s()``,
``.si()``, ``.signature()``), the tasks it sends directly (``.delay()``,
``.apply_async()``, ``send_task``), the errbacks it attaches and the places
a task waits on a result. Nothing here imports or runs the code it reads.

The facts keep no syntax tree: positions, names and short source texts
only, so a file's tree is freed as soon as its facts are collected. Only
the statements whose lines mention something Celery-like are walked.

>>> facts = collect("from celery import chain\\nchain(add.s(1), log.si())\\n")
>>> [type(use.canvas).__name__ for use in facts.canvases]
['Chain']
>>> [step.task for step in facts.canvases[0].canvas.steps]
['add', 'log']
"""

from __future__ import annotations

import ast
import bisect
import operator
import re
from dataclasses import dataclass, field, replace

SIGNATURE_METHODS = {"s", "si", "signature", "subtask"}
CANVAS_FUNCTIONS = {"chain", "group", "chord", "signature", "subtask"}
PASS_THROUGH = {"set", "on_error", "clone"}  # return the signature (or a copy); link_error returns the errback
APPLY_METHODS = {"delay", "apply_async"}
WAIT_METHODS = {"get", "join", "wait"}
RESULT_FACTORIES = {"AsyncResult", "GroupResult", "send_task", "restore"}
FILE_READS = {"read", "read_text", "read_bytes", "readlines"}
BIG_COUNT = 10_000  # items in an obviously big list
BIG_BYTES = 64 * 1024
TEXT_LIMIT = 100  # source texts kept for hints, longer ones are summarised

# A line is walked only when it mentions one of these (or an alias of a canvas function).
_HOT = re.compile(r"\.\s*(?:s|si|signature|subtask|delay|apply_async|on_error|link_error|set|send_task)\s*\("
                  r"|\b(?:chain|group|chord|signature|subtask|link_error|task|shared_task)\b|\|")
_WAIT = re.compile(r"\.\s*(?:get|join|wait)\s*\(")
_BIG = re.compile(r"\.\s*(?:read|read_text|read_bytes|readlines)\s*\(|json\.load\b"  # what _big_value can call big
                  r"|\brange\s*\([^)\n]*\d[\d_]{4,}|\*\s*\d[\d_]{2,}|\d[\d_]{2,}\s*\*")


def _word(word: str) -> str:
    """``\\bword`` written to start with a literal character: a pattern
    whose alternatives all start with one is searched by skipping to those
    characters (``re`` tries every position otherwise)."""
    return rf"{re.escape(word[0])}(?<=\b{re.escape(word[0])}){re.escape(word[1:])}"


# The same patterns in that form, for ASCII text (``\d`` also matches other digits, which cannot start one).
_HOT_FAST = (r"\.\s*(?:s|si|signature|subtask|delay|apply_async|on_error|link_error|set|send_task)\s*\("
             r"|" + "|".join(_word(w) + r"\b" for w in ("chain", "group", "chord", "signature", "subtask",
                                                          "link_error", "task", "shared_task")) + r"|\|")
_BIG_FAST = re.compile(r"\.\s*(?:read|read_text|read_bytes|readlines)\s*\(|json\.load\b"
                       r"|" + _word("range") + r"\s*\([^)\n]*\d[\d_]{4,}|\*\s*\d[\d_]{2,}"
                       r"|" + "|".join(rf"{digit}[\d_]{{2,}}\s*\*" for digit in "0123456789"))
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)

Position = tuple[int, int]  # 1-based line, 1-based character column


def _pickled_as_tuple(cls):
    """Pickle a slots dataclass as its class and a tuple of its fields:
    facts go through pickle between processes, and the default for slots
    (``__getstate__`` calling ``dataclasses.fields``) is several times slower."""
    fields = operator.attrgetter(*cls.__slots__)

    def __reduce__(self):
        return cls, fields(self)

    cls.__reduce__ = __reduce__
    return cls


# --- the canvas model --------------------------------------------------------------------------------------

@_pickled_as_tuple
@dataclass(slots=True)
class Sig:
    """One task signature: ``add.s(2, 3)``. ``nargs``/``kwargs`` are None
    when unknown (``*args``, ``**kwargs``). ``ref`` says how to find the
    task (see :class:`TaskRef`)."""

    at: Position
    task: str | None
    immutable: bool
    nargs: int | None
    kwargs: tuple[str, ...] | None
    args_text: str
    ref: tuple | None = None

    @property
    def text(self) -> str:
        return f"{self.task}.{'si' if self.immutable else 's'}({self.args_text})"


@_pickled_as_tuple
@dataclass(slots=True)
class Chain:
    at: Position
    steps: list
    complete: bool = True  # every step is known (no *steps, no unparsed step)
    text: str = ""
    unrolled: list = field(default_factory=list)  # (position, Sig): one-member groups Celery runs as the member
    written: str = "chain"  # "chain" for chain(...), "pipe" for a | b
    items: int = 0  # how many steps chain(...) was written with


@_pickled_as_tuple
@dataclass(slots=True)
class Group:
    at: Position
    members: list
    complete: bool = True  # the member count is exact
    text: str = ""


@_pickled_as_tuple
@dataclass(slots=True)
class Chord:
    """``chord(header, body)``, or what Celery builds one from:
    ``group(...) | body`` and ``chain(group(...), body)``."""

    at: Position
    header: Group
    body: object | None
    text: str = ""
    written: str = "chord"  # "chord", "pipe" (group | body) or "chain" (chain(group, body))


@_pickled_as_tuple
@dataclass(slots=True)
class Opaque:
    """Something in a canvas position that is not a literal canvas."""

    at: Position
    text: str = ""


def nodes(step):
    """Every canvas node of ``step``, outermost first (iterative: canvases
    can be thousands of steps long)."""
    stack = [step]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Chain):
            stack.extend(reversed(node.steps))
        elif isinstance(node, Group):
            stack.extend(reversed(node.members))
        elif isinstance(node, Chord):
            if node.body is not None:
                stack.append(node.body)
            stack.append(node.header)


# --- what a file holds -------------------------------------------------------------------------------------

@_pickled_as_tuple
@dataclass(slots=True)
class TaskDef:
    """A function decorated as a Celery task, its parameters as a caller
    sees them (``self`` dropped for ``bind=True``)."""

    name: str
    line: int
    positional: tuple[str, ...]
    required: int  # the first ``required`` positional parameters have no default
    varargs: bool
    keyword_only: tuple[str, ...]
    keyword_required: tuple[str, ...]
    varkw: bool
    bound: bool
    large_return: str | None = None  # why its result is obviously big
    registered: str | None = None  # an explicit ``name="..."``
    wrapped: bool = False  # other decorators run before the task's: Celery sees their signature, not this one

    def text(self) -> str:
        params = (["self"] if self.bound else []) + list(self.positional[: self.required])
        params += [f"{name}=..." for name in self.positional[self.required:]] + (["*args"] if self.varargs else [])
        if self.keyword_only and not self.varargs:
            params.append("*")
        params += list(self.keyword_only) + (["**kwargs"] if self.varkw else [])
        return f"{self.name}({', '.join(params)})"


@_pickled_as_tuple
@dataclass(slots=True)
class Start:
    """How a canvas is started where it is built: ``how`` is "call"
    (``canvas(...)``), "delay" or "apply_async"; ``nargs``/``kwargs`` what
    the start passes (None when unknown); ``args_text`` as written."""

    how: str
    nargs: int | None
    kwargs: tuple[str, ...] | None
    args_text: str = ""


@_pickled_as_tuple
@dataclass(slots=True)
class CanvasUse:
    canvas: object
    start: Start | None = None  # None: built here, started elsewhere (or never)

    @property
    def applied(self) -> bool:
        return self.start is not None


@_pickled_as_tuple
@dataclass(slots=True)
class TaskCall:
    """A task sent directly: ``add.delay(1, 2)``, ``add.apply_async((1,),
    {...})``, ``app.send_task("proj.add", args=...)``; the whole call is
    known when ``nargs``/``kwargs`` are not None."""

    at: Position
    task: str
    ref: tuple | None
    nargs: int | None
    kwargs: tuple[str, ...] | None
    args_text: str
    how: str


@_pickled_as_tuple
@dataclass(slots=True)
class Errback:
    """A signature attached with ``link_error=`` / ``.link_error()`` /
    ``.on_error()``."""

    sig: Sig
    how: str


@_pickled_as_tuple
@dataclass(slots=True)
class ResultWait:
    at: Position
    method: str
    task: str  # the task whose body waits


@dataclass
class FileFacts:
    tasks: dict[str, TaskDef] = field(default_factory=dict)  # module-level tasks, by name (what others import)
    local_tasks: dict[int, TaskDef] = field(default_factory=dict)  # every task defined here, by line
    canvases: list[CanvasUse] = field(default_factory=list)
    calls: list[TaskCall] = field(default_factory=list)
    errbacks: list[Errback] = field(default_factory=list)
    waits: list[ResultWait] = field(default_factory=list)
    reexports: dict[str, tuple] = field(default_factory=dict)  # name -> module reference (package files)
    handles_errors: bool = False  # link_error / on_error appear somewhere
    noqa: dict[int, frozenset[str] | None] = field(default_factory=dict)  # line -> codes (None: all)

    def worth_checking(self) -> bool:
        return bool(self.canvases or self.calls or self.errbacks or self.waits)


class TaskRef:
    """How a signature names its task, resolved against every linted file
    later (:class:`planner.lint.rules.TaskIndex`):

    - ``("local", name, line)``: the task function defined at ``line`` of
      this file (the one the name is bound to where it is used);
    - ``("module", module, name)``: imported (``module`` is
      ``(anchor, parts)``: ``anchor`` the folder of a relative import as
      path parts, else None and ``parts`` match the end of a file's path);
    - ``("free", name)``: a name this file does not bind (a star import...);
    - ``("registered", "proj.tasks.add")``: a task by its Celery name.

    A name the file binds to anything else (a parameter, a variable) has
    no reference: it is not judged.
    """


def collect(source: str, filename: str = "<lint>", tree: ast.Module | None = None,
            module: tuple[str, ...] = ()) -> FileFacts:
    """Gather the facts of ``source`` (parsed here unless ``tree`` is given;
    raises SyntaxError). ``module`` is the file's path parts without the
    suffix (``("src", "proj", "tasks")``), to resolve relative imports."""
    tree = tree if tree is not None else ast.parse(source, filename)
    lines = source.splitlines()
    facts = FileFacts()
    facts.handles_errors = "link_error" in source or "on_error" in source
    if "noqa" in source:
        facts.noqa = noqa_lines(lines)
    walker = _Walker(tree, lines, facts, module, walrus=":=" in source, source=source)
    try:
        walker.run()
    finally:
        walker.scopes.clear()  # scopes point back at the walker: break the cycle so the tree is freed at once
    if module and module[-1] == "__init__":
        for node in tree.body:  # a package's re-exports, to follow `from package import task`
            if isinstance(node, ast.ImportFrom):
                source_module = walker.module_reference(node)
                for alias in node.names:
                    if alias.name != "*":
                        facts.reexports[alias.asname or alias.name] = (source_module, alias.name)
    return facts


def _matching_lines(pattern: re.Pattern, text: str) -> list[int]:
    """The 1-based numbers of the lines where ``pattern`` matches, in order
    (one pass of the regex over the whole text)."""
    found: list[int] = []
    line, last = 1, 0
    for match in pattern.finditer(text):
        start = match.start()
        line += text.count("\n", last, start)
        last = start
        if not found or found[-1] != line:
            found.append(line)
    return found


def noqa_lines(lines: list[str]) -> dict[int, frozenset[str] | None]:
    """``# noqa`` comments: line -> the codes it names (None: all)."""
    found = {}
    for number, line in enumerate(lines, 1):
        if "noqa" in line.lower():
            match = _NOQA.search(line)
            if match:
                codes = match.group("codes")
                found[number] = None if codes is None else frozenset(c.upper() for c in re.split(r"[\s,]+", codes))
    return found


# --- helpers -----------------------------------------------------------------------------------------------

def dotted(expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str):
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _is_true(expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is True


def _is_none(expr) -> bool:
    return expr is None or (isinstance(expr, ast.Constant) and expr.value is None)


def _count(expr) -> int | None:
    """Length of a literal tuple/list without ``*``; 0 for a missing one."""
    if _is_none(expr):
        return 0
    if isinstance(expr, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in expr.elts):
        return len(expr.elts)
    return None


def _keys(expr) -> tuple[str, ...] | None:
    """Keys of a literal dict (``**{...}`` inside it expanded when literal too)."""
    if _is_none(expr):
        return ()
    if not isinstance(expr, ast.Dict):
        return None
    keys: list[str] = []
    for key, value in zip(expr.keys, expr.values, strict=True):
        if key is None:
            inner = _keys(value)
            if inner is None:
                return None
            keys += inner
        elif isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.append(key.value)
        else:
            return None
    return tuple(keys)


def call_arguments(call: ast.Call, skip: int = 0) -> tuple[int | None, tuple[str, ...] | None]:
    """(positional count, keyword names) of a call, ``**{"literal": ...}``
    expanded; None for what ``*args``/``**kwargs`` hide."""
    args = call.args[skip:]
    nargs = None if any(isinstance(a, ast.Starred) for a in args) else len(args)
    names: list[str] = []
    for keyword in call.keywords:
        if keyword.arg is not None:
            names.append(keyword.arg)
            continue
        inner = _keys(keyword.value)
        if inner is None:
            return nargs, None
        names += inner
    return nargs, tuple(names)


def _short(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT and "\n" not in text else ""


def _task_decorator(decorator) -> tuple[bool, bool, str | None]:
    """(is a Celery task decorator, bind=True, explicit name)."""
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    name = dotted(target) or ""
    last = name.rpartition(".")[2]
    is_task = last == "shared_task" or (last == "task" and "." in name)
    registered = _keyword(call, "name") if call else None
    registered = registered.value if isinstance(registered, ast.Constant) and isinstance(registered.value, str) else None
    return is_task, bool(call and _is_true(_keyword(call, "bind"))), registered


def task_definition(function, look_for_large: bool = True) -> TaskDef | None:
    """The :class:`TaskDef` of a decorated function, or None (its large
    return is looked for only when ``look_for_large``)."""
    decorators = [_task_decorator(decorator) for decorator in function.decorator_list]
    position = next((index for index, (is_task, _, _) in enumerate(decorators) if is_task), None)
    if position is None:
        return None
    _, bound, registered = decorators[position]
    wrapped = position < len(decorators) - 1
    args = function.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    defaults = len(args.defaults)
    if bound and positional:
        positional = positional[1:]
        defaults = min(defaults, len(positional))
    keyword_only = tuple(a.arg for a in args.kwonlyargs)
    keyword_required = tuple(a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None)
    return TaskDef(
        name=function.name, line=function.lineno, positional=tuple(positional),
        required=len(positional) - defaults, varargs=args.vararg is not None, keyword_only=keyword_only,
        keyword_required=keyword_required, varkw=args.kwarg is not None, bound=bound,
        large_return=_large_return(function) if look_for_large else None, registered=registered, wrapped=wrapped,
    )


def _statements(body):
    """Every statement of ``body`` and of the blocks nested in it, not of
    nested functions or classes (they are their own scopes)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            stack.extend(reversed(getattr(node, name, ())))
        for handler in getattr(node, "handlers", ()):
            stack.extend(reversed(handler.body))
        for case in getattr(node, "cases", ()):
            stack.extend(reversed(case.body))


def _big_value(expr, names: dict) -> str | None:
    """Why ``expr`` is obviously big, or None. Deliberately narrow."""
    if isinstance(expr, ast.Name) and expr.id in names:
        return names[expr.id]
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        for item in expr.elts:
            why = _big_value(item.value if isinstance(item, ast.Starred) else item, names)
            if why:
                return f"a {type(expr).__name__.lower()} holding {why}"
        return None
    if isinstance(expr, ast.Dict):
        for value in expr.values:
            why = _big_value(value, names)
            if why:
                return f"a dict holding {why}"
        return None
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in FILE_READS and not expr.args:
            return f"a whole file ({ast.unparse(expr)})"
        if dotted(func) == "json.load":
            return f"a whole file ({ast.unparse(expr)})"
        if dotted(func) == "list" and len(expr.args) == 1:
            return _big_range(expr.args[0])
    if isinstance(expr, (ast.ListComp, ast.SetComp, ast.DictComp)):
        return _big_range(expr.generators[0].iter)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (str, bytes)) and len(expr.value) >= BIG_BYTES:
        return f"a literal of {len(expr.value)} bytes"
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        for item, times in ((expr.left, expr.right), (expr.right, expr.left)):
            if isinstance(times, ast.Constant) and isinstance(times.value, int) and not isinstance(times.value, bool):
                size = len(ast.unparse(item)) * times.value
                if size >= BIG_BYTES:
                    return f"a literal of about {size} bytes ({ast.unparse(expr)})"
    return None


def _big_range(expr) -> str | None:
    if isinstance(expr, ast.Call) and dotted(expr.func) == "range" and expr.args:
        stop = expr.args[-1] if len(expr.args) <= 2 else expr.args[1]
        if isinstance(stop, ast.Constant) and isinstance(stop.value, int) and stop.value >= BIG_COUNT:
            return f"a list of {stop.value} items"
    return None


def _large_return(function) -> str | None:
    names: dict[str, str] = {}
    returns = []
    for node in _statements(function.body):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            why = _big_value(node.value, {})
            if why:
                names[node.targets[0].id] = why
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append(node)
    for node in sorted(returns, key=lambda n: n.lineno):
        why = _big_value(node.value, names)
        if why:
            return why
    return None


# --- scopes ------------------------------------------------------------------------------------------------

BOUND = ("bound",)  # bound to something the linter does not follow


class _Scope:
    """A module, function, lambda, class or comprehension scope. Its
    bindings are found only when a name is looked up (rare), by walking
    its statements, not its expressions."""

    def __init__(self, kind: str, body=(), params=(), walker=None):
        self.kind = kind
        self.body = body
        self.params = params
        self.walker = walker
        self._bindings = None

    @property
    def bindings(self) -> dict[str, tuple]:
        if self._bindings is None:
            self._bindings = _bindings(self, self.walker)
        return self._bindings


def _bindings(scope: _Scope, walker) -> dict[str, tuple]:
    """name -> ("value", expr) when bound exactly once by ``name = expr``,
    ("import", module, name) / ("module", module) for an import,
    ("def", node) for a function, ("global",) for a global declaration,
    else BOUND."""
    found: dict[str, list[tuple]] = {}

    def bind(name: str, how: tuple):
        found.setdefault(name, []).append(how)

    for name in scope.params:
        bind(name, BOUND)
    for node in _statements(scope.body):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bind(target.id, ("value", node.value) if len(node.targets) == 1 else BOUND)
                else:
                    for name in _target_names(target):
                        bind(name, BOUND)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                bind(node.target.id, ("value", node.value))
            else:
                for name in _target_names(node.target):
                    bind(name, BOUND)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            for name in _target_names(node.target):
                bind(name, BOUND)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                for name in _target_names(item.optional_vars):
                    bind(name, BOUND)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bind(alias.asname, ("module", (None, tuple(alias.name.split(".")))))
                else:
                    head = alias.name.partition(".")[0]
                    bind(head, ("module", (None, (head,))))
        elif isinstance(node, ast.ImportFrom):
            module = walker.module_reference(node) if walker else (None, tuple((node.module or "").split(".")))
            for alias in node.names:
                if alias.name != "*":
                    bind(alias.asname or alias.name, ("import", module, alias.name))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bind(node.name, ("def", node))
        elif isinstance(node, ast.ClassDef):
            bind(node.name, BOUND)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                bind(name, ("global",) if isinstance(node, ast.Global) else BOUND)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                for name in _target_names(target):
                    bind(name, BOUND)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            for handler in node.handlers:
                if handler.name:
                    bind(handler.name, BOUND)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                    if isinstance(name, str):
                        bind(name, BOUND)
    if walker is not None and walker.walrus and scope.kind in ("module", "function"):
        for node in _statements(scope.body):
            for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.ClassDef)) else ():
                if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                    bind(sub.target.id, BOUND)
    return {name: hows[0] if all(how == hows[0] for how in hows) else BOUND for name, hows in found.items()}


def _target_names(target) -> list[str]:
    if target is None:
        return []
    return [node.id for node in ast.walk(target) if isinstance(node, ast.Name)]


# --- the walk ----------------------------------------------------------------------------------------------

class _Walker(ast.NodeVisitor):
    """Walks the statements whose lines are hot; visits the expressions of
    those statements to find canvases, calls and errbacks."""

    def __init__(self, tree: ast.Module, lines: list[str], facts: FileFacts, module: tuple[str, ...],
                 walrus: bool = False, source: str = ""):
        self.tree = tree
        self.lines = lines
        self.facts = facts
        self.module = tuple(module)
        self.walrus = walrus
        self.functions: dict[str, str] = {}  # local name -> canvas function
        self.modules: set[str] = set()  # local names of the celery modules
        self._celery_imports(tree.body)
        fast = self.ascii = source.isascii()  # then a column is a character count
        aliases = [name for name, kind in self.functions.items() if name != kind]
        if fast:
            pattern = re.compile(_HOT_FAST + "".join(f"|{_word(a)}\\b" for a in aliases))
        else:
            pattern = re.compile(_HOT.pattern + "".join(rf"|\b{re.escape(a)}\b" for a in aliases))
        self.hot = _matching_lines(pattern, source)
        self.wait_lines = _matching_lines(_WAIT, source)
        self.big_lines = _matching_lines(_BIG_FAST if fast else _BIG, source)
        if len(source) >= BIG_BYTES:
            self.big_lines = sorted({*self.big_lines, *(n for n, line in enumerate(lines, 1) if len(line) >= BIG_BYTES)})
        self.scopes: list[_Scope] = [_Scope("module", tree.body, walker=self)]
        self.named_uses: list[dict[str, CanvasUse]] = [{}]
        self.task_stack: list[str] = []
        self.errback_positions: set[Position] = set()

    # positions and texts ---------------------------------------------------------------------------------

    def at(self, node) -> Position:
        """1-based line and character column (ast counts UTF-8 bytes)."""
        line = node.lineno
        offset = node.col_offset
        if self.ascii:
            return line, offset + 1
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        column = offset if text.isascii() else len(text.encode()[:offset].decode(errors="replace"))
        return line, column + 1

    def text(self, node) -> str:
        """The node's source when short and on one line, else ''."""
        if node.lineno != node.end_lineno or not 0 < node.lineno <= len(self.lines):
            return ""
        line = self.lines[node.lineno - 1]
        if self.ascii or line.isascii():
            return _short(line[node.col_offset:node.end_col_offset])
        return _short(line.encode()[node.col_offset:node.end_col_offset].decode(errors="replace"))

    def source(self, node) -> str:
        """The node's source as written (one line), else as ast prints it."""
        return self.text(node) or ast.unparse(node)

    def is_hot(self, first: int, last: int, lines: list[int] | None = None) -> bool:
        """Is one of ``lines`` (default: the hot ones) in ``first..last``?"""
        lines = self.hot if lines is None else lines
        index = bisect.bisect_left(lines, first)
        return index < len(lines) and lines[index] <= last

    # imports ---------------------------------------------------------------------------------------------

    def _celery_imports(self, body) -> None:
        """Names bound to celery's canvas functions and modules, from the
        module's import statements (also inside if/try at module level)."""
        for node in _statements(body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "celery" or alias.name.startswith("celery."):
                        self.modules.add(alias.asname or "celery")
            elif isinstance(node, ast.ImportFrom) and node.module in ("celery", "celery.canvas") and not node.level:
                for alias in node.names:
                    if alias.name in CANVAS_FUNCTIONS:
                        self.functions[alias.asname or alias.name] = alias.name
                    elif alias.name == "canvas":
                        self.modules.add(alias.asname or "canvas")

    def module_reference(self, node: ast.ImportFrom) -> tuple:
        parts = tuple(node.module.split(".")) if node.module else ()
        if not node.level:
            return None, parts
        folder = self.module[:-1]
        if node.level > 1:
            folder = folder[: max(len(folder) - (node.level - 1), 0)]
        return folder, parts

    # name lookups ----------------------------------------------------------------------------------------

    def lookup(self, name: str) -> tuple:
        """What ``name`` is bound to where the walk is (Python's rules:
        the innermost scope binding it; class bodies are not seen from the
        functions inside them)."""
        scopes = self.scopes
        innermost = len(scopes) - 1
        for index in range(innermost, -1, -1):
            scope = scopes[index]
            if scope.kind == "class" and index != innermost:
                continue
            how = scope.bindings.get(name)
            if how is None:
                continue
            if how == ("global",):
                return scopes[0].bindings.get(name, ("free",))
            return how
        return ("free",)

    def task_ref(self, written: str | None) -> tuple | None:
        """The :class:`TaskRef` of a task written as ``written`` (dotted)."""
        if not written:
            return None
        head, _, rest = written.partition(".")
        how = self.lookup(head)
        kind = how[0]
        if kind == "import":
            _, module, name = how
            if not rest:
                return ("module", module, name)
            parts = rest.split(".")
            return ("module", (module[0], (*module[1], name, *parts[:-1])), parts[-1])
        if kind == "module":
            parts = rest.split(".")
            if not rest:
                return None
            return ("module", (how[1][0], (*how[1][1], *parts[:-1])), parts[-1])
        if kind == "def":
            return ("local", head, how[1].lineno) if not rest else None
        if kind == "free":
            return ("free", written.rpartition(".")[2])
        return None  # a parameter, a variable, a class...: not judged

    # canvases --------------------------------------------------------------------------------------------

    def canvas_kind(self, func) -> str | None:
        if isinstance(func, ast.Name):
            kind = self.functions.get(func.id)
            if kind and self.lookup(func.id)[0] == "import":
                return kind
            return None
        if isinstance(func, ast.Attribute) and func.attr in CANVAS_FUNCTIONS:
            base = dotted(func.value)
            if base and (base in self.modules or base.partition(".")[0] in self.modules):
                return func.attr
        return None

    def parse(self, expr, seen=()):
        """The canvas ``expr`` builds, or None if it is not a canvas."""
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            return self.pipe_expression(expr, seen)
        if isinstance(expr, ast.Name):
            if expr.id in seen:
                return None
            how = self.lookup(expr.id)
            if how[0] != "value":
                return None
            return _inlined(self.parse(how[1], (*seen, expr.id)))
        if not isinstance(expr, ast.Call):
            return None
        kind = self.canvas_kind(expr.func)
        if kind == "chain":
            return self.chain_call(expr, seen)
        if kind == "group":
            members, complete = self.items(expr.args, seen)
            return Group(self.at(expr), members, complete, self.text(expr))
        if kind == "chord":
            header = self.header(expr.args[0] if expr.args else _keyword(expr, "header"), expr, seen)
            body = expr.args[1] if len(expr.args) > 1 else _keyword(expr, "body")
            parsed_body = None if body is None else (self.parse(body, seen) or self.opaque(body))
            return Chord(self.at(expr), header, parsed_body, self.text(expr))
        if kind in ("signature", "subtask"):
            return self.free_signature(expr)
        if isinstance(expr.func, ast.Call):  # chord(header)(body)
            inner = self.parse(expr.func, seen)
            if isinstance(inner, Chord) and inner.body is None and expr.args:
                body = self.parse(expr.args[0], seen) or self.opaque(expr.args[0])
                return Chord(self.at(expr), inner.header, body, self.text(expr))
            return None
        if isinstance(expr.func, ast.Attribute):
            method = expr.func.attr
            if method in SIGNATURE_METHODS:
                return self.signature(expr)
            if method in PASS_THROUGH:
                inner = self.parse(expr.func.value, seen)
                if method == "on_error" and expr.args:
                    self.errback(expr.args[0], "on_error")
                if method == "set" and inner is not None:
                    errback = _keyword(expr, "link_error")
                    if errback is not None:
                        self.errback(errback, "link_error")
                    if isinstance(inner, Sig) and _is_true(_keyword(expr, "immutable")):
                        inner.immutable = True
                return inner
        return None

    def opaque(self, expr) -> Opaque:
        return Opaque(self.at(expr), self.text(expr))

    def pipe_expression(self, expr: ast.BinOp, seen):
        """``a | b | c ...`` folded left to right as Celery does (iterative:
        such chains can be thousands of steps long)."""
        whole, operands = expr, []
        while isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            operands.append(expr.right)
            expr = expr.left
        operands.append(expr)
        operands.reverse()
        parsed = [self.parse(operand, seen) for operand in operands]
        if all(p is None for p in parsed):
            return None
        steps = [p if p is not None else self.opaque(o) for p, o in zip(parsed, operands, strict=True)]
        result = steps[0]
        for step in steps[1:]:
            result = pipe(result, step)
        if isinstance(result, Chain):
            result.at, result.text, result.written = self.at(whole), self.text(whole), "pipe"
        elif isinstance(result, Chord) and result.header is steps[0]:
            result.at, result.text = self.at(whole), self.text(whole)
        return result

    def chain_call(self, call: ast.Call, seen):
        items, complete = self.items(call.args, seen)
        at, text = self.at(call), self.text(call)
        single = len(call.args) == 1 and not isinstance(call.args[0], (ast.List, ast.Tuple, ast.ListComp,
                                                                       ast.GeneratorExp, ast.Starred))
        if single and items:  # chain(x): Celery keeps x inside a chain of one, even a group or a chord
            return Chain(at, items, complete and not isinstance(items[0], Opaque), text, items=1)
        result = Chain(at, [], complete, text)
        for item in items:
            result = pipe(result, item)
        if isinstance(result, Chain):
            result.at, result.text, result.complete = at, text, result.complete and complete
            result.items = len(items)
        elif isinstance(result, Chord):
            result.at, result.text, result.written = at, text, "chain"
        return result

    def items(self, args, seen=()) -> tuple[list, bool]:
        iterable = len(args) == 1  # group(x): x is the members, unless it is one signature
        if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
            args, iterable = args[0].elts, False
        elif len(args) == 1 and isinstance(args[0], (ast.ListComp, ast.GeneratorExp)):
            comprehension = args[0]
            self.scopes.append(_Scope("comprehension", params=[
                name for generator in comprehension.generators for name in _target_names(generator.target)]))
            try:
                member = self.parse(comprehension.elt, seen) or self.opaque(comprehension.elt)
            finally:
                self.scopes.pop()
            return [member], False
        steps, complete = [], True
        for arg in args:
            if isinstance(arg, ast.Starred):
                complete = False
                continue
            parsed = self.parse(arg, seen)
            if parsed is None and iterable:
                complete = False  # group(signatures), group(x * 3): an iterable of unknown size
            steps.append(parsed or self.opaque(arg))
        return steps, complete

    def header(self, expr, chord_call, seen) -> Group:
        if expr is None:
            return Group(self.at(chord_call), [], False)
        parsed = self.parse(expr, seen)
        if isinstance(parsed, Group):
            return parsed
        if isinstance(expr, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp)):
            members, complete = self.items([expr], seen)
            return Group(self.at(expr), members, complete, self.text(expr))
        return Group(self.at(expr), [parsed] if parsed else [], False, self.text(expr))

    def signature(self, call: ast.Call) -> Sig | None:
        written = dotted(call.func.value)
        if written is None:
            return None
        method = call.func.attr
        if method in ("signature", "subtask") and call.args and isinstance(call.args[0], ast.Constant):
            return self.free_signature(call)  # app.signature("tasks.add", ...): a task by name
        task = written.rpartition(".")[2]
        ref = self.task_ref(written)
        if method in ("s", "si"):
            nargs, kwargs = call_arguments(call)
            text = ", ".join(self.source(a) for a in [*call.args, *call.keywords])
            return Sig(self.at(call), task, method == "si", nargs, kwargs, text, ref)
        args = call.args[0] if call.args else _keyword(call, "args")
        kwargs = call.args[1] if len(call.args) > 1 else _keyword(call, "kwargs")
        immutable = _is_true(_keyword(call, "immutable"))
        return Sig(self.at(call), task, immutable, _count(args), _keys(kwargs), _args_text(args, kwargs), ref)

    def free_signature(self, call: ast.Call) -> Sig | None:
        name = call.args[0] if call.args else _keyword(call, "varies")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        args = call.args[1] if len(call.args) > 1 else _keyword(call, "args")
        kwargs = call.args[2] if len(call.args) > 2 else _keyword(call, "kwargs")
        immutable = _is_true(_keyword(call, "immutable"))
        return Sig(self.at(call), name.value.rpartition(".")[2], immutable, _count(args), _keys(kwargs),
                   _args_text(args, kwargs), ("registered", name.value))

    def errback(self, expr, how: str) -> None:
        items = expr.elts if isinstance(expr, (ast.List, ast.Tuple)) else [expr]
        for item in items:
            parsed = self.parse(item)
            if isinstance(parsed, Sig) and parsed.at not in self.errback_positions:
                self.errback_positions.add(parsed.at)
                self.facts.errbacks.append(Errback(parsed, how))

    def record(self, node, start: Start | None = None, canvas=None) -> CanvasUse | None:
        """Note the canvas ``node`` builds (a lone signature only when it is
        started here)."""
        canvas = canvas if canvas is not None else self.parse(node)
        if not isinstance(canvas, (Chain, Group, Chord)) and not (start and isinstance(canvas, Sig)):
            return None
        use = CanvasUse(canvas, start)
        self.facts.canvases.append(use)
        return use

    # statements ------------------------------------------------------------------------------------------

    def run(self) -> None:
        if self.hot:
            self.body(self.tree.body)

    def body(self, statements) -> None:
        for statement in statements:
            first = statement.decorator_list[0].lineno if getattr(statement, "decorator_list", None) \
                else statement.lineno
            if self.is_hot(first, statement.end_lineno):
                self.statement(statement)

    def statement(self, node) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(node)
        elif isinstance(node, ast.ClassDef):
            self.scopes.append(_Scope("class", node.body, walker=self))
            try:
                self.body(node.body)
            finally:
                self.scopes.pop()
        elif isinstance(node, (ast.If, ast.While)):
            self.expressions(node.test)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expressions(node.iter)
            self.body(node.body)
            self.body(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expressions(item.context_expr)
            self.body(node.body)
        elif hasattr(node, "handlers"):  # try / try*
            self.body(node.body)
            for handler in node.handlers:
                self.body(handler.body)
            self.body(node.orelse)
            self.body(node.finalbody)
        elif isinstance(node, ast.Match):
            self.expressions(node.subject)
            for case in node.cases:
                self.body(case.body)
        else:
            self.expressions(node)

    def expressions(self, node) -> None:
        if self.is_hot(node.lineno, node.end_lineno):
            self.visit(node)

    def function(self, node) -> None:
        task = task_definition(node, self.is_hot(node.lineno, node.end_lineno, self.big_lines))
        if task:
            self.facts.local_tasks[node.lineno] = task
            if len(self.scopes) == 1:
                self.facts.tasks.setdefault(task.name, task)
        first = node.body[0]
        first = first.decorator_list[0].lineno if getattr(first, "decorator_list", None) else first.lineno
        if not self.is_hot(first, node.end_lineno) and not (
                task and self.is_hot(node.lineno, node.end_lineno, self.wait_lines)):
            return  # nothing in the body is walked, and it waits on nothing
        params = [a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
        self.scopes.append(_Scope("function", node.body, params, walker=self))
        self.named_uses.append({})
        self.task_stack.append(task.name if task else "")
        try:
            if task:
                self.facts.waits.extend(self.waits(node, task.name))
            self.body(node.body)
        finally:
            self.scopes.pop()
            self.named_uses.pop()
            self.task_stack.pop()

    # expressions -----------------------------------------------------------------------------------------

    def visit(self, node) -> None:
        """:meth:`ast.NodeVisitor.visit`, the method for each node class
        looked up once (the walk visits hundreds of thousands of nodes)."""
        handler = _HANDLERS.get(node.__class__)
        if handler is None:
            name = "visit_" + node.__class__.__name__
            handler = getattr(_Walker, name) if name in _Walker.__dict__ else _Walker.generic_visit
            _HANDLERS[node.__class__] = handler
        handler(self, node)

    def generic_visit(self, node) -> None:
        """Visit the children, as :meth:`ast.NodeVisitor.generic_visit`,
        except leaves no method reads (names, constants, operators)."""
        for name in node._fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST) and item.__class__ not in _LEAVES:
                        self.visit(item)
            elif isinstance(value, ast.AST) and value.__class__ not in _LEAVES:
                self.visit(value)

    def visit_FunctionDef(self, node):  # a def inside an expression context cannot happen; statements do it
        self.function(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        params = [a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]]
        params += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
        self.scopes.append(_Scope("lambda", params=params))
        self.named_uses.append({})
        try:
            self.visit(node.body)
        finally:
            self.scopes.pop()
            self.named_uses.pop()

    def visit_comprehension_scope(self, node):
        for generator in node.generators:
            self.visit(generator.iter)
        names = [name for generator in node.generators for name in _target_names(generator.target)]
        self.scopes.append(_Scope("comprehension", params=names))
        try:
            for generator in node.generators:
                for condition in generator.ifs:
                    self.visit(condition)
            for part in ("elt", "key", "value"):
                if getattr(node, part, None) is not None:
                    self.visit(getattr(node, part))
        finally:
            self.scopes.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_comprehension_scope

    def visit_Assign(self, node):
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            use = self.record(node.value)
            if use:
                self.named_uses[-1][node.targets[0].id] = use
                return
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if not (isinstance(node.op, ast.BitOr) and self.record(node)):
            self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        for keyword in node.keywords:
            if keyword.arg == "link_error":
                self.errback(keyword.value, "link_error")
        if isinstance(func, ast.Attribute) and func.attr in ("link_error", "on_error") and node.args:
            self.errback(node.args[0], func.attr)
        if isinstance(func, ast.Call):
            chord = self.parse(node)
            if isinstance(chord, Chord):
                self.record(node, Start("call", 0, ()), chord)  # chord(header)(body)
                self.visit_call_parts(node)
                return
        if isinstance(func, ast.Attribute) and func.attr in APPLY_METHODS:
            if self.mark_applied(func.value, node, func.attr):
                self.visit_call_parts(node)
                return
            canvas = self.parse(func.value)
            start = self.start(node, func.attr, canvas)
            if (canvas is not None and self.record(func.value, start, canvas)) \
                    or (canvas is None and self.task_call(node, func, start)):
                self.visit_call_parts(node)
                return
        elif isinstance(func, ast.Name):
            if self.mark_applied(func, node, "call"):
                self.visit_call_parts(node)
                return
        elif isinstance(func, (ast.Call, ast.BinOp)):
            canvas = self.parse(func)
            if isinstance(canvas, (Chain, Group, Chord)):
                self.record(func, self.start(node, "call", canvas), canvas)  # (a | b | c)() or chain(...)()
                self.visit_call_parts(node)
                return
        elif isinstance(func, ast.Attribute) and func.attr == "send_task":
            self.send_task(node)
        if not self.record(node):
            self.generic_visit(node)

    def start(self, call: ast.Call, how: str, canvas) -> Start:
        """What starting ``canvas`` with ``call`` passes to its first tasks.
        Calling a group or chord takes options, not task keywords."""
        text = ", ".join(self.source(a) for a in [*call.args, *call.keywords])
        if how == "apply_async":
            args = call.args[0] if call.args else _keyword(call, "args")
            kwargs = call.args[1] if len(call.args) > 1 else _keyword(call, "kwargs")
            return Start(how, _count(args), _keys(kwargs), text)
        nargs, kwargs = call_arguments(call)
        if how == "call" and isinstance(canvas, Chord):
            return Start(how, 0, (), text)
        if how == "call" and isinstance(canvas, Group):
            return Start(how, nargs, (), text)
        return Start(how, nargs, kwargs, text)

    def task_call(self, call: ast.Call, func: ast.Attribute, start: Start) -> bool:
        written = dotted(func.value)
        ref = self.task_ref(written)
        if ref is None:
            return False
        self.facts.calls.append(TaskCall(self.at(call), written.rpartition(".")[2], ref, start.nargs, start.kwargs,
                                         start.args_text, func.attr))
        return True

    def send_task(self, call: ast.Call) -> None:
        name = call.args[0] if call.args else _keyword(call, "name")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return
        args = call.args[1] if len(call.args) > 1 else _keyword(call, "args")
        kwargs = call.args[2] if len(call.args) > 2 else _keyword(call, "kwargs")
        self.facts.calls.append(TaskCall(self.at(call), name.value.rpartition(".")[2], ("registered", name.value),
                                         _count(args), _keys(kwargs), _args_text(args, kwargs), "send_task"))

    def visit_call_parts(self, call):
        for child in [*call.args, *call.keywords]:
            self.visit(child)

    def mark_applied(self, expr, call: ast.Call, how: str) -> bool:
        """``name.delay()`` / ``name()`` on a canvas assigned to ``name``."""
        if isinstance(expr, ast.Name):
            for uses in reversed(self.named_uses):
                if expr.id in uses:
                    use = uses[expr.id]
                    use.start = self.start(call, how, use.canvas)
                    return True
        return False

    # waits inside tasks ----------------------------------------------------------------------------------

    def is_result(self, expr) -> bool:
        """Does ``expr`` evaluate to an AsyncResult (or GroupResult)?"""
        if not isinstance(expr, ast.Call):
            return False
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in APPLY_METHODS:
            return True
        name = dotted(func) or ""
        last = name.rpartition(".")[2]
        if last in RESULT_FACTORIES and (last != "restore" or "GroupResult" in name):
            return True
        return isinstance(func, (ast.Call, ast.BinOp)) and isinstance(self.parse(func), (Chain, Group, Chord))

    def waits(self, function, task: str) -> list[ResultWait]:
        """``.get()`` / ``.join()`` / ``.wait()`` on results inside a task body."""
        if not self.is_hot(function.lineno, function.end_lineno, self.wait_lines):
            return []
        results, allowed, waits = set(), set(), []
        statements = list(_statements(function.body))
        for node in statements:
            if isinstance(node, ast.Assign) and self.is_result(node.value):
                results.update(t.id for t in node.targets if isinstance(t, ast.Name))
            if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                    isinstance(item.context_expr, ast.Call)
                    and (dotted(item.context_expr.func) or "").endswith("allow_join_result") for item in node.items):
                allowed.update(id(inner) for inner in ast.walk(node))  # the user opted in knowingly
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            first, last = statement.lineno, (statement.body[0].lineno - 1 if hasattr(statement, "body")
                                             else statement.end_lineno)
            if not self.is_hot(first, max(first, last), self.wait_lines):
                continue
            for node in _own_expressions(statement):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in WAIT_METHODS:
                    flag = _keyword(node, "disable_sync_subtasks")
                    if id(node) in allowed or (isinstance(flag, ast.Constant) and flag.value is False):
                        continue
                    receiver = node.func.value
                    if self.is_result(receiver) or (isinstance(receiver, ast.Name) and receiver.id in results):
                        waits.append(ResultWait(self.at(node), node.func.attr, task))
        return waits


_HANDLERS: dict[type, object] = {}  # node class -> the _Walker method that visits it
# Nodes without children any visit method reads.
_LEAVES = frozenset({ast.Name, ast.Constant, *(cls for base in (ast.expr_context, ast.operator, ast.boolop,
                                                                 ast.unaryop, ast.cmpop)
                                                for cls in base.__subclasses__())})


def _own_expressions(statement):
    """The expression nodes of ``statement`` itself, not of the statements
    in its blocks (they are visited on their own)."""
    blocks = {id(s) for name in ("body", "orelse", "finalbody") for s in getattr(statement, name, ())}
    blocks |= {id(h) for h in getattr(statement, "handlers", ())}
    blocks |= {id(c) for c in getattr(statement, "cases", ())}
    stack = [statement]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if id(child) not in blocks and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef, ast.Lambda)):
                stack.append(child)


# --- Celery's | ----------------------------------------------------------------------------------------------

def pipe(left, right):
    """``left | right`` as Celery composes it (celery/canvas.py ``__or__``):
    ``group | task`` is a chord, ``chord | task`` extends the chord's body,
    ``chain | group`` of one member unrolls it, a group right after a
    group's chord... Empty chains start ``chain(a, b, ...)``."""
    if isinstance(right, Group) and right.complete and not right.members:
        return left  # an empty group is a no-op
    if isinstance(left, Chain) and not left.steps:  # chain() | x
        if isinstance(right, Group):
            unrolled = _unroll(right)
            if unrolled is not right:
                left.unrolled.append((right.at, unrolled))
                return Chain(left.at, [unrolled], left.complete, left.text, left.unrolled)
            return right
        if isinstance(right, Chain):
            return Chain(left.at, list(right.steps), left.complete and right.complete, left.text,
                         left.unrolled + right.unrolled)
        return Chain(left.at, [right], left.complete and not isinstance(right, Opaque), left.text, left.unrolled)
    if isinstance(left, Group):
        return Chord(left.at, left, right, left.text, "pipe")
    if isinstance(left, Chord) and not isinstance(right, (Group, Chain)):
        return Chord(left.at, left.header, _append(left.body, right), left.text, left.written)
    if isinstance(left, Chain):
        return _chain_or(left, right)
    chain = Chain(getattr(left, "at", (1, 1)), [left], not isinstance(left, Opaque))
    return _chain_or(chain, right)


def _chain_or(chain: Chain, right) -> Chain:
    steps, unrolled = list(chain.steps), list(chain.unrolled)
    complete = chain.complete
    if isinstance(right, Group):
        single = _unroll(right)
        if single is not right:
            unrolled.append((right.at, single))
            return _chain_or(Chain(chain.at, steps, complete, chain.text, unrolled), single)
        if steps and isinstance(steps[-1], Chord):
            last = steps[-1]
            steps[-1] = Chord(last.at, last.header, _append(last.body, right), last.text, last.written)
        else:
            steps.append(right)
    elif isinstance(right, Chain):
        result = Chain(chain.at, steps, complete and right.complete, chain.text, unrolled + right.unrolled)
        for step in right.steps:
            result = _chain_or(result, step)
        return result
    elif steps and isinstance(steps[-1], Group) and not isinstance(right, Opaque):
        steps[-1] = Chord(steps[-1].at, steps[-1], right, steps[-1].text, "pipe")
        if len(steps) > 1 and isinstance(steps[-2], Chord):
            previous = steps[-2]
            steps[-2] = Chord(previous.at, previous.header, _append(previous.body, steps[-1]), previous.text,
                              previous.written)
            steps.pop()
    elif steps and isinstance(steps[-1], Chord) and not isinstance(right, (Chord, Opaque)):
        last = steps[-1]
        steps[-1] = Chord(last.at, last.header, _append(last.body, right), last.text, last.written)
    else:
        steps.append(right)
        complete = complete and not isinstance(right, Opaque)
    return Chain(chain.at, steps, complete, chain.text, unrolled)


def _inlined(value):
    """A canvas reached through a name: the code may have changed it
    since (``g.tasks.append(...)``), so its size is no longer known."""
    if isinstance(value, (Chain, Group)):
        return replace(value, complete=False)
    if isinstance(value, Chord):
        return replace(value, header=replace(value.header, complete=False))
    return value if isinstance(value, Sig) else None


def _unroll(group: Group):
    """A group of exactly one known member is run as that member."""
    if group.complete and len(group.members) == 1 and not isinstance(group.members[0], Opaque):
        return group.members[0]
    return group


def _append(body, step):
    """``body | step`` for a chord body."""
    if body is None:
        return step
    if isinstance(body, Chain):
        return _chain_or(body, step)
    return _chain_or(Chain(getattr(body, "at", (1, 1)), [body], not isinstance(body, Opaque)), step)


def _args_text(args, kwargs) -> str:
    parts = []
    if isinstance(args, (ast.Tuple, ast.List)):
        parts += [ast.unparse(a) for a in args.elts]
    elif args is not None and not _is_none(args):
        parts.append(f"*{ast.unparse(args)}")
    if isinstance(kwargs, ast.Dict):
        parts += [f"**{ast.unparse(v)}" if k is None else f"{ast.unparse(k)}: {ast.unparse(v)}"
                  for k, v in zip(kwargs.keys, kwargs.values, strict=True)]
    elif kwargs is not None and not _is_none(kwargs):
        parts.append(f"**{ast.unparse(kwargs)}")
    return ", ".join(parts)
