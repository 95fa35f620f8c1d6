"""Linting paths: find the files, read every ``.py`` statically (whatever
Python it is written for), check the Celery code against the tasks of all
linted files, run the graph checks on graph files (read statically too,
unless ``import_graphs``), apply ``# noqa`` and the chosen codes.

Files are streamed: each is read, parsed, reduced to compact facts and its
syntax tree dropped before the next one is read; the rules then run over
the facts with a cross-file index of task definitions.

>>> lint_paths(["examples/log_done/tasks.py"])   # doctest: +SKIP
[]
"""

from __future__ import annotations

import functools
import gc
import itertools
import multiprocessing
import os
import pickle
import re
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import graphs
from .collect import FileFacts, collect
from .findings import Finding, Note, chosen_codes
from .modern import parse_source
from .rules import TaskIndex, check_file
from .sources import Modules

SKIPPED_DIRECTORIES = {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"}
MAX_RESULT_BYTES = 64 * 1024
# What a file must mention for any rule to apply to it; met while walking a folder, a file that mentions none of
# it is not parsed (most of a web project: models, views without tasks, forms, settings).
RELEVANT = re.compile(r"celery|task|\b(?:chain|group|chord)\b|signature|subtask|\.si?\(|\.delay\(|\.apply_async\("
                      r"|link_error|on_error|DiGraph|networkx")
_RELEVANT_TEXTS = ("celery", "task", "signature", "subtask", ".s(", ".si(", ".delay(", ".apply_async(", "link_error",
                   "on_error", "DiGraph", "networkx")
_CANVAS_WORDS = re.compile(r"\b(?:chain|group|chord)\b")


def relevant(text: str) -> bool:
    """Does ``text`` mention something a rule reads (``RELEVANT``)? Plain
    substring tests first: one regex with alternatives tries every
    position of the text, several times slower on the files it rejects.

    >>> relevant("from celery import shared_task"), relevant("class Order(models.Model): ...")
    (True, False)
    """
    return any(word in text for word in _RELEVANT_TEXTS) or (
        ("chain" in text or "group" in text or "chord" in text) and _CANVAS_WORDS.search(text) is not None)


class LintUsageError(ValueError):
    """Bad paths, codes or report: the CLI exits 2 with this one line."""


def discover(paths: list[str], skip_unrelated: bool = False) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for each path; directories are walked for
    ``*.py`` and ``*.json`` (hidden and virtualenv folders skipped). Usage
    errors are raised before any file is read. ``skip_unrelated``: files
    named explicitly are filtered as a walk filters what it meets (another
    suffix is skipped, and so later is a file no rule reads), as a hook
    that passes every changed file needs."""
    return [(path, explicit) for path, explicit, _ in _discover(paths, skip_unrelated)]


def _discover(paths: list[str], skip_unrelated: bool) -> list[tuple[Path, bool, Path]]:
    """:func:`discover`, each file with its resolved path too."""
    for given in paths:
        path = Path(given)
        if path.is_file() and path.suffix not in (".py", ".json") and not skip_unrelated:
            raise LintUsageError(f"{given}: not a .py or .json file")
        if not path.exists():
            raise LintUsageError(f"{given}: no such file or directory")
    found = _unique(_walk(paths))
    if skip_unrelated:
        return [(path, False, key) for path, _, key in found if path.suffix in (".py", ".json")]
    return list(found)


def _walk(paths: list[str]) -> Iterator[tuple[Path, bool]]:
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders
                                       if not d.startswith(".") and d not in SKIPPED_DIRECTORIES)
                for name in sorted(files):
                    if name.endswith((".py", ".json")):
                        yield Path(folder) / name, False
        else:
            yield path, True


def _unique(found: Iterator[tuple[Path, bool]]) -> Iterator[tuple[Path, bool, Path]]:
    seen: dict[Path, bool] = {}
    ordered: list[Path] = []
    paths: dict[Path, Path] = {}
    for path, explicit in found:
        key = path.resolve()
        if key not in seen:
            ordered.append(key)
            paths[key] = path
        seen[key] = explicit or seen.get(key, False)
    for key in ordered:
        yield paths[key], seen[key], key


def display_path(path: Path, resolved: Path | None = None) -> str:
    """Relative to the working directory when inside it (as ruff prints);
    ``resolved``: ``path.resolve()`` when the caller has it already."""
    resolved = resolved if resolved is not None else path.resolve()
    try:
        return resolved.relative_to(_resolved_cwd(os.getcwd())).as_posix()
    except ValueError:
        return str(path)


@functools.lru_cache(maxsize=4)
def _resolved_cwd(cwd: str) -> Path:
    return Path(cwd).resolve()


@dataclass
class LintResult:
    findings: list[Finding]  # sorted by path, line, column, code
    notes: list[Note]  # what could not be checked (sorted); they do not change the exit code


def lint_paths(paths: list[str], select: str | None = None, ignore: str | None = None,
               graph_attribute: str = "graph", report: str | None = None,
               max_result_bytes: int = MAX_RESULT_BYTES) -> list[Finding]:
    """All findings for ``paths``, sorted by path, line, column, code.
    Raises :class:`LintUsageError` for bad input."""
    return lint(paths, select, ignore, graph_attribute, report, max_result_bytes).findings


def lint(paths: list[str], select: str | None = None, ignore: str | None = None, graph_attribute: str = "graph",
         report: str | None = None, max_result_bytes: int = MAX_RESULT_BYTES, import_graphs: bool = False,
         skip_unrelated: bool = False) -> LintResult:
    """Findings and notes for ``paths``. Graph files are read statically
    (nothing in them runs) unless ``import_graphs``; ``skip_unrelated``: see
    :func:`discover`. Raises :class:`LintUsageError` for bad input."""
    try:
        codes = chosen_codes(select, ignore)
    except ValueError as error:
        raise LintUsageError(str(error)) from None
    run_report = None
    if report is not None:
        try:
            run_report = graphs.load_report(report)
        except ValueError as error:
            raise LintUsageError(str(error)) from None
    files = _discover(paths, skip_unrelated)

    limit = sys.getrecursionlimit()
    collecting = gc.isenabled()
    # Syntax trees hold no reference cycles: reference counting frees each as soon as its file is done,
    # and the cyclic collector would only walk them again and again.
    gc.disable()
    sys.setrecursionlimit(max(limit, 10_000))  # long a | b | c ... canvases and deep expressions
    try:
        findings, checked, graph_files = _read_all(files, graph_attribute)
        index = TaskIndex()
        for item in checked:
            index.add(item.module, item.index_facts())
        findings += _check_all([item for item in checked if item.worth_checking], index)
    finally:
        sys.setrecursionlimit(limit)
        if collecting:
            gc.enable()

    notes: list[Note] = []
    loaded: dict[str, tuple[object, dict]] = {}
    modules = Modules(index.module_files)
    for display, path, noqa, problem in graph_files:
        check = graphs.check_graph_file(display, path, graph_attribute, modules, import_graphs, problem)
        findings += [f for f in check.findings if not _suppressed(f, noqa)]
        notes += check.notes
        loaded[display] = (check.graph, check.positions)
    if run_report is not None:
        findings += graphs.large_results(report, display_path(Path(report)), run_report, loaded, max_result_bytes)

    return LintResult(sorted({f for f in findings if f.code in codes}), sorted(set(notes)))


@dataclass
class _Item:
    """A Python file's facts until the rules run. From a worker process
    they stay pickled and compressed (``packed``: a tenth of the objects'
    memory), unpacked one file at a time by the rules; the tasks and
    re-exports the cross-file index needs come apart."""

    display: str
    module: tuple[str, ...]
    facts: FileFacts | None
    worth_checking: bool
    packed: bytes | None = None
    tasks: dict | None = None
    reexports: dict | None = None

    def index_facts(self) -> FileFacts:
        if self.facts is not None:
            return self.facts
        return FileFacts(tasks=self.tasks, reexports=self.reexports)

    def unpacked(self) -> FileFacts:
        return self.facts if self.facts is not None else _unpack(self.packed)

    def packed_up(self) -> _Item:
        if self.facts is None or not self.worth_checking:
            return _Item(self.display, self.module, None, False, None, self.facts.tasks, self.facts.reexports)
        return _Item(self.display, self.module, None, True, zlib.compress(pickle.dumps(self.facts, pickle.HIGHEST_PROTOCOL), 1),
                     self.facts.tasks, self.facts.reexports)


PARALLEL_FROM = 200  # files; below this a process pool costs more than it saves
CHUNK = 16


def _read_all(files: list[tuple[Path, bool, Path]], graph_attribute: str):
    """Pass one: every file read, parsed and reduced to facts, its tree
    dropped. Returns (PLN000 findings, facts of the Python files, graph
    files to load). Large trees are read by one process per core (forked:
    nothing is imported again); results come back in the files' order."""
    findings: list[Finding] = []
    checked: list[_Item] = []
    graph_files: list[tuple] = []
    jobs = [(path, explicit, graph_attribute, resolved) for path, explicit, resolved in files]
    workers = _workers()
    if workers > 1 and len(jobs) >= PARALLEL_FROM:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for chunk in pool.imap(_read_chunk, _chunks(jobs, CHUNK)):
                _gather(chunk, findings, checked, graph_files)
    else:
        _gather((_read_file(*job) for job in jobs), findings, checked, graph_files)
    return findings, checked, graph_files


def _workers() -> int:
    """Worker processes to use: one per core, when forking is safe."""
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1  # forking a process with threads can deadlock its children
    return min(os.cpu_count() or 1, 8)


_INDEX: TaskIndex | None = None  # the cross-file index, for the rules' worker processes (forked after it is built)


def _check_all(items: list[_Item], index: TaskIndex) -> list[Finding]:
    """Pass two: the rules over every file's facts, unpacked one file at a
    time. Facts packed by worker processes are checked by worker processes
    again, forked once the index is complete (they share it)."""
    global _INDEX
    workers = _workers()
    if workers > 1 and items and items[0].facts is None:
        _INDEX = index
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                packed = ((item.display, item.packed) for item in items)
                return [f for chunk in pool.imap_unordered(_check_chunk, _chunks(packed, CHUNK)) for f in chunk]
        finally:
            _INDEX = None
    return [f for item in items for f in _check(item.display, item.unpacked(), index)]


def _check(display: str, facts: FileFacts, index: TaskIndex) -> list[Finding]:
    return [f for f in check_file(display, facts, index) if not _suppressed(f, facts.noqa)]


def _check_chunk(files: list[tuple[str, bytes]]) -> list[Finding]:
    """In a worker process: the findings of packed files."""
    return [f for display, packed in files for f in _check(display, _unpack(packed), _INDEX)]


def _gather(results, findings: list, checked: list, graph_files: list) -> None:
    for found, item, graph_file in results:
        findings += found
        if item is not None:
            checked.append(item)
        if graph_file is not None:
            graph_files.append(graph_file)


def _chunks(jobs, size: int) -> Iterator[list]:
    jobs = iter(jobs)
    while chunk := list(itertools.islice(jobs, size)):
        yield chunk


def _unpack(packed: bytes) -> FileFacts:
    return pickle.loads(zlib.decompress(packed))


def _read_chunk(jobs: list) -> list:
    """In a worker process: the files' results, facts pickled."""
    results = []
    for job in jobs:
        found, item, graph_file = _read_file(*job)
        results.append((found, None if item is None else item.packed_up(), graph_file))
    return results


def _read_file(path: Path, explicit: bool, graph_attribute: str, resolved: Path | None = None):
    """(PLN000 findings, the file's facts or None, graph file or None)."""
    resolved = resolved if resolved is not None else path.resolve()
    display = display_path(path, resolved)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return [Finding(display, 1, 1, "PLN000", f"not UTF-8 text: {error.reason}")], None, None
    except OSError as error:
        return [Finding(display, 1, 1, "PLN000", f"cannot read the file: {error.strerror or error}")], None, None
    if path.suffix == ".json":
        if not explicit and '"nodes"' not in text:
            return [], None, None  # cannot be a node-link graph: not worth decoding
        problem = graphs.node_link_problem(text)
        if explicit or problem is None:
            return [], None, (display, path, {}, problem)
        return [], None, None
    if not explicit and not relevant(text) and not (path.name == "__init__.py" and "import" in text):
        return [], None, None  # nothing any rule reads (a package's __init__ may re-export tasks)
    module = resolved.with_suffix("").parts
    try:
        tree = parse_source(text, str(path))
        facts = collect(text, str(path), tree, module)
        is_graph = graphs.is_graph_file(text, tree, graph_attribute)
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
        line = getattr(error, "lineno", None) or 1
        column = getattr(error, "offset", None) or 1
        return [Finding(display, line, column, "PLN000", f"syntax error: {getattr(error, 'msg', error)}",
                        "fix the syntax; nothing else in this file was checked")], None, None
    except RecursionError:
        return [Finding(display, 1, 1, "PLN000", "expressions nested too deeply to analyse",
                        "split the long expression; nothing else in this file was checked")], None, None
    del tree
    worth = facts.worth_checking()
    item = _Item(display, module, facts, worth) if worth or facts.tasks or facts.reexports else None
    graph_file = (display, path, facts.noqa, None) if is_graph else None
    return [], item, graph_file


def _suppressed(finding: Finding, noqa: dict) -> bool:
    """``# noqa`` on the finding's line hides everything; ``# noqa: CODES``
    hides those codes (as ruff does). PLN000 cannot be hidden."""
    if finding.code == "PLN000" or finding.line not in noqa:
        return False
    codes = noqa[finding.line]
    return codes is None or finding.code in codes
