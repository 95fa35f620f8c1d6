"""The static walk over one Python file: the Celery tasks it defines, the
canvases it builds (``chain``/``group``/``chord``, ``a | b``, ``.s()``,
``.si()``, ``.signature()``) and the places a task waits on a result.
Nothing here imports or runs the code it reads.

>>> facts = collect("from celery import chain\\nchain(add.s(1), log.si())\\n")
>>> [type(use.canvas).__name__ for use in facts.canvases]
['Chain']
>>> [step.task for step in facts.canvases[0].canvas.steps]
['add', 'log']
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

SIGNATURE_METHODS = {"s", "si", "signature", "subtask"}
CANVAS_FUNCTIONS = {"chain", "group", "chord", "signature", "subtask"}
PASS_THROUGH = {"set", "on_error", "clone"}  # return the signature (or a copy); link_error returns the errback
APPLY_METHODS = {"delay", "apply_async"}
WAIT_METHODS = {"get", "join", "wait"}
RESULT_FACTORIES = {"AsyncResult", "GroupResult", "send_task", "restore"}
FILE_READS = {"read", "read_text", "read_bytes", "readlines"}
BIG_COUNT = 10_000  # items in an obviously big list
BIG_BYTES = 64 * 1024


# --- the canvas model --------------------------------------------------------------------------------------

@dataclass
class Sig:
    """One task signature: ``add.s(2, 3)``. ``nargs``/``kwargs`` are None
    when unknown (``*args``, ``**kwargs``)."""

    node: ast.AST
    task: str | None
    immutable: bool
    nargs: int | None
    kwargs: tuple[str, ...] | None
    args_text: str


@dataclass
class Chain:
    node: ast.AST
    steps: list
    complete: bool = True  # every step is known (no *steps, no unparsed step)


@dataclass
class Group:
    node: ast.AST
    members: list
    complete: bool = True  # the member count is exact


@dataclass
class Chord:
    node: ast.AST
    header: Group
    body: object | None


@dataclass
class Opaque:
    """Something in a canvas position that is not a literal canvas."""

    node: ast.AST


def nodes(step):
    """Every canvas node of ``step``, outermost first."""
    yield step
    if isinstance(step, Chain):
        for sub in step.steps:
            yield from nodes(sub)
    elif isinstance(step, Group):
        for sub in step.members:
            yield from nodes(sub)
    elif isinstance(step, Chord):
        yield from nodes(step.header)
        if step.body is not None:
            yield from nodes(step.body)


# --- what a file holds -------------------------------------------------------------------------------------

@dataclass
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

    def text(self) -> str:
        params = list(self.positional) + (["*args"] if self.varargs else [])
        if self.keyword_only and not self.varargs:
            params.append("*")
        params += list(self.keyword_only) + (["**kwargs"] if self.varkw else [])
        return f"{self.name}({', '.join(params)})"


@dataclass
class CanvasUse:
    canvas: object
    applied: bool = False


@dataclass
class ResultWait:
    node: ast.AST
    method: str
    task: str  # the task whose body waits


@dataclass
class FileFacts:
    tasks: dict[str, TaskDef] = field(default_factory=dict)
    canvases: list[CanvasUse] = field(default_factory=list)
    waits: list[ResultWait] = field(default_factory=list)
    handles_errors: bool = False  # link_error / on_error appear somewhere
    lines: list[str] = field(default_factory=list)

    def position(self, node: ast.AST) -> tuple[int, int]:
        """1-based line and character column (ast counts UTF-8 bytes)."""
        line = node.lineno
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        column = len(text.encode()[: node.col_offset].decode(errors="replace"))
        return line, column + 1


def collect(source: str, filename: str = "<lint>", tree: ast.Module | None = None) -> FileFacts:
    """Gather the facts of ``source`` (parsed here unless ``tree`` is given;
    raises SyntaxError)."""
    tree = tree if tree is not None else ast.parse(source, filename)
    facts = FileFacts(lines=source.splitlines())
    walker = _Walker(tree, facts)
    walker.visit(tree)
    facts.handles_errors = walker.handles_errors
    return facts


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


def _count(expr) -> int | None:
    """Length of a literal tuple/list without ``*``; 0 for a missing one."""
    if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
        return 0
    if isinstance(expr, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in expr.elts):
        return len(expr.elts)
    return None


def _keys(expr) -> tuple[str, ...] | None:
    if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
        return ()
    if isinstance(expr, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in expr.keys):
        return tuple(k.value for k in expr.keys)
    return None


def _task_decorator(decorator) -> tuple[bool, bool]:
    """(is a Celery task decorator, bind=True)."""
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    name = dotted(target) or ""
    last = name.rpartition(".")[2]
    is_task = last == "shared_task" or (last == "task" and "." in name)
    return is_task, bool(call and _is_true(_keyword(call, "bind")))


def task_definition(function) -> TaskDef | None:
    """The :class:`TaskDef` of a decorated function, or None."""
    for decorator in function.decorator_list:
        is_task, bound = _task_decorator(decorator)
        if is_task:
            break
    else:
        return None
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
        large_return=_large_return(function),
    )


def _own_nodes(function):
    """Nodes of ``function``'s body, not of functions or classes nested in it."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.append(child)


def _big_value(expr, names: dict) -> str | None:
    """Why ``expr`` is obviously big, or None. Deliberately narrow."""
    if isinstance(expr, ast.Name) and expr.id in names:
        return names[expr.id]
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
    for node in _own_nodes(function):
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


def _imports(tree) -> tuple[set[str], dict[str, str], bool]:
    """Local names bound to the celery modules, local name -> canvas
    function (``from celery import chain as c`` gives ``{'c': 'chain'}``),
    and whether ``link_error`` / ``on_error`` appear anywhere (one pass)."""
    modules: set[str] = set()
    functions: dict[str, str] = {}
    handles_errors = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            handles_errors = handles_errors or node.attr in ("on_error", "link_error")
        elif isinstance(node, ast.keyword):
            handles_errors = handles_errors or node.arg in ("on_error", "link_error")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "celery" or alias.name.startswith("celery."):
                    modules.add(alias.asname or "celery")
                    if alias.asname:
                        modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module in ("celery", "celery.canvas"):
            for alias in node.names:
                if alias.name in CANVAS_FUNCTIONS:
                    functions[alias.asname or alias.name] = alias.name
                elif alias.name == "canvas":
                    modules.add(alias.asname or "canvas")
    return modules, functions, handles_errors


# --- the walk ----------------------------------------------------------------------------------------------

class _Walker(ast.NodeVisitor):
    def __init__(self, tree, facts: FileFacts):
        self.facts = facts
        self.modules, self.functions, self.handles_errors = _imports(tree)
        self.scopes: list[_Scope] = [_Scope(tree.body)]
        self.named_uses: list[dict[str, CanvasUse]] = [{}]

    # canvases --------------------------------------------------------------------------------------------

    def canvas_kind(self, func) -> str | None:
        if isinstance(func, ast.Name):
            return self.functions.get(func.id)
        if isinstance(func, ast.Attribute) and func.attr in CANVAS_FUNCTIONS:
            base = dotted(func.value)
            if base and (base in self.modules or base.partition(".")[0] in self.modules):
                return func.attr
        return None

    def parse(self, expr, seen=()):
        """The canvas ``expr`` builds, or None if it is not a canvas."""
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
            left, right = self.parse(expr.left, seen), self.parse(expr.right, seen)
            if left is None and right is None:
                return None
            return _chain(expr, [left or Opaque(expr.left), right or Opaque(expr.right)])
        if isinstance(expr, ast.Name) and expr.id not in seen:
            for scope in reversed(self.scopes):
                if expr.id in scope.names:
                    value = self.parse(scope.names[expr.id], (*seen, expr.id))
                    return value if isinstance(value, Sig) else None  # only single signatures are inlined
            return None
        if not isinstance(expr, ast.Call):
            return None
        kind = self.canvas_kind(expr.func)
        if kind == "chain":
            steps, complete = self.items(expr.args)
            return _chain(expr, steps, complete)
        if kind == "group":
            members, complete = self.items(expr.args)
            return Group(expr, members, complete)
        if kind == "chord":
            header = self.header(expr.args[0] if expr.args else _keyword(expr, "header"), expr)
            body = expr.args[1] if len(expr.args) > 1 else _keyword(expr, "body")
            return Chord(expr, header, None if body is None else (self.parse(body, seen) or Opaque(body)))
        if kind in ("signature", "subtask"):
            return self.free_signature(expr)
        if isinstance(expr.func, ast.Call):  # chord(header)(body)
            inner = self.parse(expr.func, seen)
            if isinstance(inner, Chord) and inner.body is None and expr.args:
                return Chord(expr, inner.header, self.parse(expr.args[0], seen) or Opaque(expr.args[0]))
            return None
        if isinstance(expr.func, ast.Attribute):
            method = expr.func.attr
            if method in SIGNATURE_METHODS:
                return self.signature(expr)
            if method in PASS_THROUGH:
                inner = self.parse(expr.func.value, seen)
                if isinstance(inner, Sig) and method == "set" and _is_true(_keyword(expr, "immutable")):
                    inner.immutable = True
                return inner
        return None

    def items(self, args) -> tuple[list, bool]:
        if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
            args = args[0].elts
        elif len(args) == 1 and isinstance(args[0], (ast.ListComp, ast.GeneratorExp)):
            return [self.parse(args[0].elt) or Opaque(args[0].elt)], False
        steps, complete = [], True
        for arg in args:
            if isinstance(arg, ast.Starred):
                complete = False
                continue
            steps.append(self.parse(arg) or Opaque(arg))
        return steps, complete

    def header(self, expr, chord_call) -> Group:
        if expr is None:
            return Group(chord_call, [], False)
        parsed = self.parse(expr)
        if isinstance(parsed, Group):
            return parsed
        if isinstance(expr, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp)):
            members, complete = self.items([expr])
            return Group(expr, members, complete)
        return Group(expr, [parsed] if parsed else [], False)

    def signature(self, call: ast.Call) -> Sig | None:
        base = dotted(call.func.value)
        if base is None:
            return None
        task = base.rpartition(".")[2]
        method = call.func.attr
        if method in ("signature", "subtask") and call.args and isinstance(call.args[0], ast.Constant):
            return self.free_signature(call)  # app.signature("tasks.add", ...): a task by name
        if method in ("s", "si"):
            nargs = None if any(isinstance(a, ast.Starred) for a in call.args) else len(call.args)
            names = [kw.arg for kw in call.keywords]
            kwargs = None if None in names else tuple(names)
            text = ", ".join(ast.unparse(a) for a in [*call.args, *call.keywords])
            return Sig(call, task, method == "si", nargs, kwargs, text)
        args = call.args[0] if call.args else _keyword(call, "args")
        kwargs = call.args[1] if len(call.args) > 1 else _keyword(call, "kwargs")
        immutable = _is_true(_keyword(call, "immutable"))
        return Sig(call, task, immutable, _count(args), _keys(kwargs), _args_text(args, kwargs))

    def free_signature(self, call: ast.Call) -> Sig | None:
        name = call.args[0] if call.args else _keyword(call, "varies")
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
            return None
        args = call.args[1] if len(call.args) > 1 else _keyword(call, "args")
        kwargs = call.args[2] if len(call.args) > 2 else _keyword(call, "kwargs")
        immutable = _is_true(_keyword(call, "immutable"))
        return Sig(call, name.value.rpartition(".")[2], immutable, _count(args), _keys(kwargs),
                   _args_text(args, kwargs))

    def record(self, node, applied=False) -> CanvasUse | None:
        canvas = self.parse(node)
        if not isinstance(canvas, (Chain, Group, Chord)):
            return None
        use = CanvasUse(canvas, applied)
        self.facts.canvases.append(use)
        return use

    # the walk --------------------------------------------------------------------------------------------

    def visit_FunctionDef(self, node):
        task = task_definition(node)
        if task:
            self.facts.tasks.setdefault(task.name, task)
            self.facts.waits.extend(_waits(node, task.name, self))
        self.scopes.append(_Scope(node.body))
        self.named_uses.append({})
        self.generic_visit(node)
        self.scopes.pop()
        self.named_uses.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node):
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            use = self.record(node.value)
            if use:
                self.named_uses[-1][node.targets[0].id] = use
                return
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if not self.record(node):
            self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Call) and isinstance(self.parse(node), Chord):
            self.record(node, applied=True)  # chord(header)(body)
            return
        if isinstance(func, ast.Attribute) and func.attr in APPLY_METHODS:
            if self.record(func.value, applied=True) or self.mark_applied(func.value):
                self.visit_call_parts(node)
                return
        elif isinstance(func, (ast.Call, ast.BinOp)) and isinstance(self.parse(func), (Chain, Group, Chord)):
            self.record(func, applied=True)  # (a | b | c)() or chain(...)()
            self.visit_call_parts(node)
            return
        elif self.mark_applied(func):
            self.visit_call_parts(node)
            return
        if not self.record(node):
            self.generic_visit(node)

    def visit_call_parts(self, call):
        for child in [*call.args, *call.keywords]:
            self.visit(child)

    def mark_applied(self, expr) -> bool:
        if isinstance(expr, ast.Name):
            for uses in reversed(self.named_uses):
                if expr.id in uses:
                    uses[expr.id].applied = True
                    return True
        return False


def _chain(node, steps: list, complete: bool = True) -> Chain:
    """A chain with nested chains flattened, as Celery runs them."""
    flat = []
    for step in steps:
        if isinstance(step, Chain):
            flat.extend(step.steps)
            complete = complete and step.complete
        else:
            flat.append(step)
            complete = complete and not isinstance(step, Opaque)
    return Chain(node, flat, complete)


def _args_text(args, kwargs) -> str:
    parts = []
    if isinstance(args, (ast.Tuple, ast.List)):
        parts += [ast.unparse(a) for a in args.elts]
    elif args is not None:
        parts.append(f"*{ast.unparse(args)}")
    if isinstance(kwargs, ast.Dict):
        parts += [f"**{ast.unparse(v)}" if k is None else f"{ast.unparse(k)}: {ast.unparse(v)}"
                  for k, v in zip(kwargs.keys, kwargs.values, strict=True)]
    return ", ".join(parts)


class _Scope:
    """A function's or module's body; its single assignments are found only
    when a name is looked up (rare), not for every function."""

    def __init__(self, body):
        self.body = body
        self._names = None

    @property
    def names(self) -> dict[str, ast.AST]:
        if self._names is None:
            self._names = _single_assignments(self.body)
        return self._names


def _single_assignments(body) -> dict[str, ast.AST]:
    """Names assigned exactly once in a scope (not in nested functions), with
    their value: only those are safe to inline."""
    values: dict[str, ast.AST] = {}
    counts: dict[str, int] = {}
    holder = ast.Module(body=list(body), type_ignores=[])
    for node in _own_nodes(holder):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [(t, node.value) for t in node.targets]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.With, ast.NamedExpr)):
            targets = [(getattr(node, "target", None), None)]
        for target, value in targets:
            for name in ast.walk(target) if target is not None else []:
                if isinstance(name, ast.Name):
                    counts[name.id] = counts.get(name.id, 0) + 1
                    values[name.id] = value if isinstance(target, ast.Name) else None
    return {name: value for name, value in values.items() if counts[name] == 1 and value is not None}


def _is_result(expr, walker: _Walker) -> bool:
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
    return isinstance(func, (ast.Call, ast.BinOp)) and isinstance(walker.parse(func), (Chain, Group, Chord))


def _waits(function, task: str, walker: _Walker) -> list[ResultWait]:
    """``.get()`` / ``.join()`` / ``.wait()`` on results inside a task body."""
    results = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_result(node.value, walker):
            results.update(t.id for t in node.targets if isinstance(t, ast.Name))
    allowed = set()  # inside ``with allow_join_result():`` the user opted in knowingly
    for node in ast.walk(function):
        if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                isinstance(item.context_expr, ast.Call)
                and (dotted(item.context_expr.func) or "").endswith("allow_join_result") for item in node.items):
            allowed.update(id(inner) for inner in ast.walk(node))
    waits = []
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WAIT_METHODS:
            receiver = node.func.value
            flag = _keyword(node, "disable_sync_subtasks")
            opted_in = id(node) in allowed or (isinstance(flag, ast.Constant) and flag.value is False)
            if opted_in:
                continue
            if _is_result(receiver, walker) or (isinstance(receiver, ast.Name) and receiver.id in results):
                waits.append(ResultWait(node, node.func.attr, task))
    return sorted(waits, key=lambda w: (w.node.lineno, w.node.col_offset))
