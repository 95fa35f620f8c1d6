"""The modules a graph file takes its tasks from, found and read without
importing them: a module is looked for the way ``planner plan`` would
import it (the graph's folder first, then the working directory and
``sys.path``), then among the linted files; it is parsed, never run, and its task definitions give the
parameters Celery calls the task with (an :class:`inspect.Signature`).

>>> import ast
>>> function = ast.parse("def scale(self, value, factor: int = 2) -> int: ...").body[0]
>>> print(parameters_of(function, bound=True))
(value, factor: int = 2) -> int
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .collect import TaskDef, dotted, task_definition
from .modern import parse_source

FOLLOW = 4  # re-exports and star imports followed from one module


class Shown:
    """A default value or an annotation that prints as written (what
    ``inspect`` prints for it once the module has run)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _default(expr) -> Shown:
    try:
        return Shown(repr(ast.literal_eval(expr)))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return Shown(ast.unparse(expr))


def _annotation(expr, postponed: bool):
    if expr is None:
        return inspect.Parameter.empty
    text = ast.unparse(expr)
    # with ``from __future__ import annotations`` an annotation stays a string (inspect shows its repr);
    # otherwise it is evaluated, and inspect shows typing's objects without their ``typing.`` prefix
    return Shown(repr(text)) if postponed else Shown(text.replace("typing.", ""))


def parameters_of(function, bound: bool = False, postponed: bool = False) -> inspect.Signature | None:
    """The parameters of a task function as ``inspect.signature`` gives
    them for the task's ``run`` (``self`` dropped for ``bind=True``), or
    None when inspect could not give any."""
    kind = inspect.Parameter
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parameters = []
    for number, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        how = kind.POSITIONAL_ONLY if number < len(args.posonlyargs) else kind.POSITIONAL_OR_KEYWORD
        parameters.append(kind(arg.arg, how, default=kind.empty if default is None else _default(default),
                               annotation=_annotation(arg.annotation, postponed)))
    if args.vararg:
        parameters.append(kind(args.vararg.arg, kind.VAR_POSITIONAL,
                               annotation=_annotation(args.vararg.annotation, postponed)))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        parameters.append(kind(arg.arg, kind.KEYWORD_ONLY, default=kind.empty if default is None else _default(default),
                               annotation=_annotation(arg.annotation, postponed)))
    if args.kwarg:
        parameters.append(kind(args.kwarg.arg, kind.VAR_KEYWORD, annotation=_annotation(args.kwarg.annotation, postponed)))
    if bound:  # a bound method: inspect drops the first positional parameter, and refuses a method without one
        if not parameters or parameters[0].kind not in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD):
            return None if not parameters or parameters[0].kind != kind.VAR_POSITIONAL else _signature(parameters, function, postponed)
        parameters = parameters[1:]
    return _signature(parameters, function, postponed)


def _signature(parameters, function, postponed) -> inspect.Signature:
    return inspect.Signature(parameters, return_annotation=_annotation(function.returns, postponed))


@dataclass
class TaskInfo:
    """A task definition read statically."""

    definition: TaskDef
    module: str  # the dotted name it is imported under
    parameters: inspect.Signature | None  # None: what Celery checks is not known (another decorator under the task's)
    proxy: str  # the type of the decorated name before the app is finalized: what validation reports for it

    @property
    def name(self) -> str:
        """The name Celery registers it under."""
        return self.definition.registered or f"{self.module}.{self.definition.name}"


def _proxy(function) -> str:
    for decorator in function.decorator_list:
        name = dotted(decorator.func if isinstance(decorator, ast.Call) else decorator) or ""
        if name.rpartition(".")[2] == "shared_task":
            return "Proxy"
    return "PromiseProxy"


def task_info(function, module: str, postponed: bool) -> TaskInfo | None:
    """The :class:`TaskInfo` of a function definition, or None when it is
    not decorated as a Celery task."""
    definition = task_definition(function, look_for_large=False)
    if definition is None:
        return None
    parameters = None if definition.wrapped else parameters_of(function, definition.bound, postponed)
    return TaskInfo(definition, module, parameters, _proxy(function))


def postponed_annotations(tree: ast.Module) -> bool:
    """Does the module start with ``from __future__ import annotations``?"""
    return any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "annotations" for alias in node.names) for node in tree.body)


@dataclass
class TaskModule:
    """What a module offers to ``from module import name``, read statically:
    its module-level task functions, the names it imports (re-exports), its
    star imports, and every other name it binds."""

    path: Path
    tasks: dict[str, ast.AST] = field(default_factory=dict)  # name -> the decorated function definition
    imported: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # name -> (level, module, name)
    stars: list[tuple[int, str]] = field(default_factory=list)
    postponed: bool = False
    names: set[str] = field(default_factory=set)  # every name bound at module level
    plain_functions: set[str] = field(default_factory=set)  # undecorated module-level functions
    open: bool = False  # names may be bound where the reader does not see (star import, __getattr__, globals())
    constants: dict[str, object] = field(default_factory=dict)  # NAME = <literal>, bound once at module level

    def lacks(self, name: str) -> bool:
        """Is ``name`` certainly not an attribute of the module?"""
        return not self.open and name not in self.names


def _module_level(body):
    """Module-level statements, also inside if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            yield from _module_level(node.body)
            yield from _module_level(getattr(node, "orelse", ()))
            yield from _module_level(getattr(node, "finalbody", ()))
            for handler in getattr(node, "handlers", ()):
                yield from _module_level(handler.body)


def read_module(path: Path) -> TaskModule | None:
    """The :class:`TaskModule` of a ``.py`` file, or None when it cannot be
    read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = parse_source(text, str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
        return None
    module = TaskModule(path, postponed=postponed_annotations(tree))
    stores: dict[str, int] = {}
    literals: dict[str, object] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
        if isinstance(target, ast.Name):
            try:
                literals[target.id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
    for node in _module_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.decorator_list:
                module.tasks[node.name] = node
            else:
                module.plain_functions.add(node.name)
            module.open |= node.name == "__getattr__"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    module.stars.append((node.level, node.module or ""))
                else:
                    module.imported[alias.asname or alias.name] = (node.level, node.module or "", alias.name)
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                else ():
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                module.names.add(sub.id)
                stores[sub.id] = stores.get(sub.id, 0) + 1
            elif isinstance(sub, ast.Name) and sub.id in ("globals", "vars", "setattr", "exec"):
                module.open = True
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                module.names.update((a.asname or a.name).partition(".")[0] for a in sub.names)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.names.add(node.name)
    module.open |= bool(module.stars) or "__dict__" in text or "sys.modules" in text
    if not module.open:
        module.constants = {name: value for name, value in literals.items() if stores.get(name) == 1}
    return module


@dataclass(frozen=True)
class Search:
    """Where a graph file's imports are looked for: its folder, and the
    folders the file itself puts first and last on ``sys.path``."""

    folder: Path | None
    front: tuple[Path, ...] = ()
    back: tuple[Path, ...] = ()


def _search(where) -> Search:
    return where if isinstance(where, Search) else Search(where)


class Modules:
    """Module files by dotted name, and the tasks in them, read once per
    lint run. ``linted(parts)`` gives the linted files whose path ends with
    the module's parts (the lint's cross-file index), the last resort.

    >>> Modules().find("no_such_module_anywhere", Path(".")) is None
    True
    """

    def __init__(self, linted: Callable[[tuple[str, ...]], list[Path]] | None = None):
        self.linted = linted or (lambda parts: [])
        self.read: dict[Path, TaskModule | None] = {}
        self.found: dict[tuple, Path | None] = {}
        self.tasks: dict[tuple, TaskInfo | None] = {}

    def module(self, path: Path) -> TaskModule | None:
        if path not in self.read:
            resolved = path.resolve()
            if resolved not in self.read:
                self.read[resolved] = read_module(resolved)
            self.read[path] = self.read[resolved]
        return self.read[path]

    def find(self, name: str, folder: Path | Search | None) -> Path | None:
        """The file ``import name`` loads for a graph file in ``folder``
        (which Python puts first on ``sys.path``), found without running
        anything; else the one linted file that ends with its parts."""
        key = (name, folder)
        if key not in self.found:
            self.found[key] = self._find(name, folder)
        return self.found[key]

    def _find(self, name: str, folder: Path | Search | None) -> Path | None:
        parts = tuple(name.split("."))
        if not all(part.isidentifier() for part in parts):
            return None
        for root in self.roots(folder):
            found = _in_folder(root, parts)
            if found is not None:
                return found
        found = _installed(parts)
        if found is not None:
            return found
        candidates = self.linted(parts)
        return candidates[0] if len(candidates) == 1 else None

    def roots(self, where) -> list[Path]:
        """Where ``import`` looks for a graph file in ``where`` (its folder,
        or a :class:`Search`), as planner plan has it: the folder first, then
        the working directory (as for celery -A), then ``sys.path`` — and
        what the file adds to it."""
        search = _search(where)
        cwd = os.getcwd()
        extra = [Path(cwd)] if cwd not in sys.path and "" not in sys.path else []
        folder = [search.folder] if search.folder is not None else []
        return [*search.front, *folder, *extra, *(Path(entry or ".") for entry in sys.path), *search.back]

    def import_problem(self, name: str, folder: Path | Search | None) -> tuple[str, bool] | None:
        """(the error loading reports, is it the environment's) when
        ``import name`` certainly fails for a graph file in ``folder``: its
        top-level module is nowhere Python looks (the environment's
        problem), or its package has no such submodule."""
        from ..graphfile import missing_module

        key = ("import", name, folder)
        if key in self.found:
            return self.found[key]
        parts = tuple(name.split("."))
        problem = None
        if all(part.isidentifier() for part in parts) and name not in sys.builtin_module_names:
            roots = self.roots(folder)
            if not any(_any_module(root, parts[0]) for root in roots) and not _spec_found(parts[0]):
                error = ModuleNotFoundError(f"No module named '{parts[0]}'", name=parts[0])
                search = _search(folder)
                on_path = tuple(str(root) for root in [search.folder, Path(os.getcwd()), *search.front, *search.back])
                problem = missing_module(error, search.folder, on_path=on_path), True
            else:
                problem = self._missing_submodule(parts, roots, missing_module)
        self.found[key] = problem
        return problem

    def _missing_submodule(self, parts, roots, missing_module):
        package = next((found for root in roots if (found := _in_folder(root, parts[:1])) is not None), None)
        for depth in range(1, len(parts)):
            if package is None or package.name != "__init__.py" or "__path__" in _text_of(package):
                return None  # a namespace package, a module, or one that extends its path: not judged
            if not _any_module(package.parent, parts[depth]):
                error = ModuleNotFoundError(name=".".join(parts[:depth + 1]))
                return missing_module(error, package=str(package)), False
            package = _in_folder(package.parent, parts[depth:depth + 1])
        return None

    def relative(self, path: Path, level: int, name: str) -> Path | None:
        """The file of ``from {'.' * level}{name} import ...`` in ``path``."""
        folder = path.resolve().parent
        for _ in range(level - 1):
            folder = folder.parent
        return _in_folder(folder, tuple(name.split("."))) if name else _in_folder(folder.parent, (folder.name,))

    def task(self, module: str, name: str, folder: Path | Search | None, depth: int = 0) -> TaskInfo | None:
        """The task ``from module import name`` gives a graph file in
        ``folder``, following re-exports and star imports; None when it is
        not a task function found statically."""
        key = (module, name, folder)
        if key not in self.tasks:
            path = self.find(module, folder)
            self.tasks[key] = self._task_in(path, module, name, depth) if path is not None else None
        return self.tasks[key]

    def _task_in(self, path: Path, module: str, name: str, depth: int) -> TaskInfo | None:
        read = self.module(path)
        if read is None:
            return None
        if name in read.tasks:
            return task_info(read.tasks[name], module, read.postponed)
        if depth >= FOLLOW:
            return None
        if name in read.imported:
            level, source, original = read.imported[name]
            return self._follow(path, module, level, source, original, depth)
        for level, source in read.stars:
            task = self._follow(path, module, level, source, name, depth)
            if task is not None:
                return task
        return None

    def _follow(self, path: Path, module: str, level: int, source: str, name: str, depth: int) -> TaskInfo | None:
        if not level:
            return self.task(source, name, None, depth + 1)
        target = self.relative(path, level, source)
        if target is None:
            return None
        package = module.split(".")
        if path.name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - (level - 1)] if level > 1 else package
        dotted_name = ".".join([*package, *([source] if source else [])])
        return self._task_in(target, dotted_name, name, depth + 1)

    def missing(self, module: str, name: str, folder: Path | Search | None, attribute: bool = False) -> str | None:
        """The error of ``from module import name`` (of ``module.name`` when
        ``attribute``) when ``module`` is found and certainly has no
        ``name`` (nor a submodule of that name)."""
        path = self.find(module, folder)
        read = self.module(path) if path is not None else None
        if read is None or not read.lacks(name):
            return None
        if path.name == "__init__.py" and _in_folder(path.parent, (name,)) is not None:
            return None
        if attribute:
            return f"AttributeError: module '{module}' has no attribute '{name}'"
        return f"ImportError: cannot import name '{name}' from '{module}' ({path.absolute()})"

    def binds(self, module: str, name: str, folder: Path | Search | None) -> bool:
        """Does ``module`` (found and read) bind ``name`` at its level?"""
        path = self.find(module, folder)
        read = self.module(path) if path is not None else None
        return read is not None and name in read.names

    def constant(self, module: str, name: str, folder: Path | Search | None) -> tuple[bool, object]:
        """(True, value) when ``module.name`` is a literal bound once at the
        module's level (``SOURCES = ("orders", "customers")``)."""
        path = self.find(module, folder)
        read = self.module(path) if path is not None else None
        if read is None or name not in read.constants:
            return False, None
        return True, read.constants[name]

    def plain_function(self, module: str, name: str, folder: Path | Search | None) -> bool:
        """Is ``module.name`` a function without any decorator (not a task)?"""
        path = self.find(module, folder)
        read = self.module(path) if path is not None else None
        return read is not None and name in read.plain_functions and name not in read.tasks

    def registered(self, name: str, folder: Path | Search | None, imported: list[str]) -> TaskInfo | None:
        """The task Celery knows as ``name`` (``app.signature("proj.add")``):
        in a module the graph file imports, the task registered under that
        name; else function ``add`` of module ``proj``."""
        for module in imported:
            path = self.find(module, folder)
            read = self.module(path) if path is not None else None
            for function in (read.tasks.values() if read else ()):
                info = task_info(function, module, read.postponed)
                if info is not None and info.name == name:
                    return info
        module, _, function = name.rpartition(".")
        if not module:
            return None
        info = self.task(module, function, folder)
        return info if info is not None and info.name == name else None


def _in_folder(root: Path, parts: tuple[str, ...]) -> Path | None:
    """``parts`` under ``root``: a package first, then a module, as Python's
    path finder looks."""
    try:
        package = root.joinpath(*parts, "__init__.py")
        if package.is_file():
            return package
        module = root.joinpath(*parts[:-1], parts[-1] + ".py")
        if module.is_file():
            return module
    except (OSError, ValueError):
        pass
    return None


def _any_module(root: Path, name: str) -> bool:
    """Is there anything Python could import as ``name`` in ``root`` (a
    package, a namespace folder, a module, an extension, bytecode)?"""
    try:
        if (root / name).is_dir():
            return True
        return any((root / f"{name}{suffix}").is_file() for suffix in _SUFFIXES)
    except (OSError, ValueError):
        return True  # cannot look: do not claim it is missing


_SUFFIXES = (".py", ".pyc", *importlib.machinery.EXTENSION_SUFFIXES)


def _spec_found(name: str) -> bool:
    """Does an import finder of this environment know ``name`` (located,
    not imported: builtins, frozen and editable-install modules)?"""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return True


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "__path__"


def _installed(parts: tuple[str, ...]) -> Path | None:
    """A module of an installed distribution that is not a folder on
    ``sys.path`` (an editable install's finder): the top-level package is
    looked up with the import system's finders, which locate files and run
    nothing; the rest of the name is followed in its folders."""
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    if len(parts) == 1:
        origin = spec.origin
        return Path(origin) if origin and origin.endswith(".py") else None
    for location in spec.submodule_search_locations or ():
        found = _in_folder(Path(location), parts[1:])
        if found is not None:
            return found
    return None
