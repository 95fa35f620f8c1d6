"""Linting paths: find the files, run the Celery-code rules on every
``.py`` (statically), the graph checks on graph files, apply ``# noqa`` and
the chosen codes.

>>> lint_paths(["examples/log_done/tasks.py"])   # doctest: +SKIP
[]
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

from . import graphs
from .collect import FileFacts, collect
from .findings import Finding, chosen_codes
from .rules import check_file

SKIPPED_DIRECTORIES = {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"}
MAX_RESULT_BYTES = 64 * 1024
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


class LintUsageError(ValueError):
    """Bad paths, codes or report: the CLI exits 2 with this one line."""


def discover(paths: list[str]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for each path; directories are walked for
    ``*.py`` and ``*.json`` (hidden and virtualenv folders skipped)."""
    found: list[tuple[Path, bool]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders
                                       if not d.startswith(".") and d not in SKIPPED_DIRECTORIES)
                found += [(Path(folder) / f, False) for f in sorted(files) if f.endswith((".py", ".json"))]
        elif path.is_file():
            if path.suffix not in (".py", ".json"):
                raise LintUsageError(f"{given}: not a .py or .json file")
            found.append((path, True))
        else:
            raise LintUsageError(f"{given}: no such file or directory")
    unique: dict[Path, tuple[Path, bool]] = {}
    for path, explicit in found:
        key = path.resolve()
        unique[key] = (path, explicit or unique.get(key, (path, False))[1])
    return list(unique.values())


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it (as ruff prints)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def lint_paths(paths: list[str], select: str | None = None, ignore: str | None = None,
               graph_attribute: str = "graph", report: str | None = None,
               max_result_bytes: int = MAX_RESULT_BYTES) -> list[Finding]:
    """All findings for ``paths``, sorted by path, line, column, code.
    Raises :class:`LintUsageError` for bad input."""
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
    files = discover(paths)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))  # long a | b | c ... canvases

    findings: list[Finding] = []
    sources: dict[str, list[str]] = {}
    parsed: dict[str, tuple[Path, FileFacts, ast.Module]] = {}
    graph_jsons: list[tuple[str, Path, str]] = []
    for path, explicit in files:
        display = display_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            findings.append(Finding(display, 1, 1, "PLN000", f"not UTF-8 text: {error.reason}"))
            continue
        sources[display] = text.splitlines()
        if path.suffix == ".json":
            if explicit or graphs.is_graph_json(text):
                graph_jsons.append((display, path, text))
            continue
        try:
            tree = ast.parse(text, str(path))
            facts = collect(text, str(path), tree)
        except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
            line = getattr(error, "lineno", None) or 1
            column = getattr(error, "offset", None) or 1
            findings.append(Finding(display, line, column, "PLN000", f"syntax error: {getattr(error, 'msg', error)}",
                                    "fix the syntax; nothing else in this file was checked"))
            continue
        except RecursionError:
            findings.append(Finding(display, 1, 1, "PLN000", "expressions nested too deeply to analyse",
                                    "split the long expression; nothing else in this file was checked"))
            continue
        parsed[display] = (path, facts, tree)

    index: dict[str, list] = {}
    for _, facts, _ in parsed.values():
        for name, task in facts.tasks.items():
            index.setdefault(name, []).append(task)
    for display, (_, facts, _) in parsed.items():
        findings += check_file(display, facts, index)

    loaded: dict[str, tuple[object, dict]] = {}
    for display, (path, _, tree) in parsed.items():
        if graphs.is_graph_module(tree, graph_attribute):
            positions = graphs.node_positions_py(tree)
            loaded[display] = (_lint_graph(display, path, graph_attribute, positions, findings), positions)
    for display, path, text in graph_jsons:
        positions = graphs.node_positions_json(text)
        loaded[display] = (_lint_graph(display, path, graph_attribute, positions, findings), positions)
    if run_report is not None:
        findings += graphs.large_results(report, display_path(Path(report)), run_report, loaded, max_result_bytes)

    kept = {f for f in findings if f.code in codes and not _suppressed(f, sources.get(f.path, []))}
    return sorted(kept)


def _lint_graph(display: str, path: Path, attribute: str, positions: dict, findings: list):
    graph, error = graphs.load(path, attribute)
    if error:
        findings.append(graphs.invalid_graph(display, path, error, positions))
        return None
    findings += graphs.ordering_only_segments(display, graph, positions)
    return graph


def _suppressed(finding: Finding, lines: list[str]) -> bool:
    """``# noqa`` on the finding's line hides everything; ``# noqa: CODES``
    hides those codes (as ruff does). PLN000 cannot be hidden."""
    if finding.code == "PLN000" or not 0 < finding.line <= len(lines):
        return False
    match = _NOQA.search(lines[finding.line - 1])
    if not match:
        return False
    codes = match.group("codes")
    return codes is None or finding.code in {c.upper() for c in re.split(r"[\s,]+", codes)}
