"""Findings (and notes: what lint could not check) as text (as ruff
prints), JSON, SARIF 2.1.0 (for code scanning) or GitHub Actions workflow
commands (annotations on the pull request, as ruff's ``--output-format
github``).

>>> from planner.lint.findings import Finding
>>> found = [Finding("a.py", 3, 1, "PLN006", "group of one signature", "use it directly")]
>>> print(text(found))
a.py:3:1: PLN006 group of one signature
  fix: use it directly
Found 1 finding.
>>> print(github(found))
::warning title=planner (PLN006 canvas-of-one),file=a.py,line=3,col=1,endLine=3,endColumn=1::group of one signature%0Afix: use it directly
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import quote

from .findings import RULES, Finding, Note

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FORMATS = ("text", "json", "sarif", "github")


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'s' if number != 1 else ''}"


def text(findings: list[Finding], notes: list[Note] = ()) -> str:
    """``path:line:col: CODE message`` and its fix, then the notes
    (``path:line:col: note: ...``), then the summary line."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}")
        if finding.fix:
            lines.append(f"  fix: {finding.fix}")
    lines += [f"{note.path}:{note.line}:{note.column}: note: {note.message}" for note in notes]
    summary = f"Found {_count(len(findings), 'finding')}." if findings else "All checks passed!"
    if notes:
        summary += f" ({_count(len(notes), 'note')}: not everything could be checked)"
    lines.append(summary)
    return "\n".join(lines)


def as_json(findings: list[Finding], notes: list[Note] = ()) -> str:
    return json.dumps({"findings": [f.as_json() for f in findings], "notes": [n.as_json() for n in notes]}, indent=2)


_LEVELS = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(value: str) -> str:
    """A workflow command's message, escaped as GitHub's toolkit does.

    >>> escape_data("50% done\\nnext")
    '50%25 done%0Anext'
    """
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value (``file=``, ``title=``...):
    ``:`` and ``,`` are escaped too.

    >>> escape_property("a,b: c")
    'a%2Cb%3A c'
    """
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github_path(path: str, workspace: str | None = None) -> str:
    """``path`` as GitHub wants it in an annotation: relative to the
    repository checked out (``$GITHUB_WORKSPACE``) when it lies inside it,
    else as printed."""
    workspace = workspace if workspace is not None else os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        try:
            return (Path.cwd() / path).resolve().relative_to(Path(workspace).resolve()).as_posix()
        except ValueError:
            pass
    return path


def github(findings: list[Finding], notes: list[Note] = ()) -> str:
    """One workflow command per finding (``::error``, ``::warning`` or
    ``::notice`` by the rule's level) and per note (``::notice``). A
    finding has a start only: ``endLine``/``endColumn`` repeat it."""
    lines = []
    for finding in findings:
        rule = RULES[finding.code]
        message = finding.message + (f"\nfix: {finding.fix}" if finding.fix else "")
        lines.append(_command(_LEVELS[rule.level], f"planner ({finding.code} {rule.name})", finding.path,
                              finding.line, finding.column, message))
    for note in notes:
        lines.append(_command("notice", "planner (note: not checked)", note.path, note.line, note.column,
                              note.message))
    return "\n".join(lines)


def _command(level: str, title: str, path: str, line: int, column: int, message: str) -> str:
    properties = {"title": title, "file": github_path(path), "line": line, "col": column, "endLine": line,
                  "endColumn": column}
    shown = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    return f"::{level} {shown}::{escape_data(message)}"


def source_root(paths: list[str], cwd: Path | None = None) -> Path:
    """The folder SARIF uris are relative to (``%SRCROOT%``): the working
    directory, or, when a finding lies outside it, the deepest folder that
    holds every finding."""
    cwd = (cwd or Path.cwd()).resolve()
    absolute = [(cwd / path).resolve() for path in paths]
    if all(path.is_relative_to(cwd) for path in absolute):
        return cwd
    return Path(os.path.commonpath([str(path.parent) for path in absolute]))


def sarif_uri(path: str, root: Path) -> str:
    """``path`` relative to ``root``, '/'-separated and percent-encoded.

    >>> sarif_uri("sp ace/té st.py", Path.cwd())
    'sp%20ace/t%C3%A9%20st.py'
    """
    relative = (Path.cwd() / path).resolve().relative_to(root)
    return quote(relative.as_posix(), safe="/")


def sarif(findings: list[Finding], codes: set[str] | None = None, notes: list[Note] = ()) -> str:
    """One SARIF run; ``rules`` lists every chosen rule (default all).
    Every uri is relative to ``%SRCROOT%``, which ``originalUriBaseIds``
    names (see :func:`source_root`). Notes are the invocation's
    ``toolExecutionNotifications`` (level ``note``), not results."""
    shown = [rule for code, rule in RULES.items() if codes is None or code in codes]
    index = {rule.code: number for number, rule in enumerate(shown)}
    root = source_root([item.path for item in [*findings, *notes]])
    results = []
    for finding in findings:
        rule = RULES[finding.code]
        message = finding.message + (f" (fix: {finding.fix})" if finding.fix else "")
        result = {
            "ruleId": finding.code,
            "level": rule.level,
            "message": {"text": message},
            "locations": [{"physicalLocation": _location(finding, root)}],
        }
        if finding.code in index:
            result["ruleIndex"] = index[finding.code]
        results.append(result)
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "planner",
                "version": _version(),
                "rules": [{
                    "id": rule.code,
                    "name": rule.name,
                    "shortDescription": {"text": rule.summary},
                    "fullDescription": {"text": rule.help},
                    "help": {"text": rule.help},
                    "defaultConfiguration": {"level": rule.level},
                } for rule in shown],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": True,
                "toolExecutionNotifications": [{
                    "level": "note",
                    "message": {"text": note.message},
                    "locations": [{"physicalLocation": _location(note, root)}],
                } for note in notes],
            }],
            "results": results,
        }],
    }
    return json.dumps(document, indent=2)


def _location(item: Finding | Note, root: Path) -> dict:
    return {"artifactLocation": {"uri": sarif_uri(item.path, root), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": item.line, "startColumn": item.column}}


def _version() -> str:
    try:
        return version("planner")
    except PackageNotFoundError:
        return "0"
