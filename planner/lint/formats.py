"""Findings as text (as ruff prints), JSON, or SARIF 2.1.0 (for code
scanning).

>>> from planner.lint.findings import Finding
>>> print(text([Finding("a.py", 3, 1, "PLN006", "group of one signature", "use it directly")]))
a.py:3:1: PLN006 group of one signature
  fix: use it directly
Found 1 finding.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import quote

from .findings import RULES, Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FORMATS = ("text", "json", "sarif")


def text(findings: list[Finding]) -> str:
    if not findings:
        return "All checks passed!"
    lines = []
    for finding in findings:
        lines.append(f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}")
        if finding.fix:
            lines.append(f"  fix: {finding.fix}")
    lines.append(f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''}.")
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps({"findings": [f.as_json() for f in findings]}, indent=2)


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


def sarif(findings: list[Finding], codes: set[str] | None = None) -> str:
    """One SARIF run; ``rules`` lists every chosen rule (default all).
    Every uri is relative to ``%SRCROOT%``, which ``originalUriBaseIds``
    names (see :func:`source_root`)."""
    shown = [rule for code, rule in RULES.items() if codes is None or code in codes]
    index = {rule.code: number for number, rule in enumerate(shown)}
    root = source_root([finding.path for finding in findings])
    results = []
    for finding in findings:
        rule = RULES[finding.code]
        message = finding.message + (f" (fix: {finding.fix})" if finding.fix else "")
        result = {
            "ruleId": finding.code,
            "level": rule.level,
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": sarif_uri(finding.path, root), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": finding.line, "startColumn": finding.column},
            }}],
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
            "results": results,
        }],
    }
    return json.dumps(document, indent=2)


def _version() -> str:
    try:
        return version("planner")
    except PackageNotFoundError:
        return "0"
