"""``planner lint``: catch misused chains in graph files and in existing
Celery code. Nothing it reads is imported or run: Celery code is read with
:mod:`ast`, and graph files too, by a small interpreter of literal data
(``lint(..., import_graphs=True)`` loads them as ``planner plan`` does).

Modules: :mod:`.collect` (the ast walk), :mod:`.rules` (rules over Celery
code), :mod:`.graphs` (graph files), :mod:`.graphread` (reading them
without running them), :mod:`.sources` (finding the modules they import),
:mod:`.engine` (paths, noqa, selection), :mod:`.formats` (text, JSON,
SARIF, GitHub annotations), :mod:`.findings`.

>>> from planner.lint import lint_paths
>>> lint_paths(["examples"])   # doctest: +SKIP
[]
"""

from .engine import LintResult, LintUsageError, lint, lint_paths
from .findings import RULES, Finding, Note, Rule, chosen_codes

__all__ = ["RULES", "Finding", "LintResult", "LintUsageError", "Note", "Rule", "chosen_codes", "lint", "lint_paths"]
