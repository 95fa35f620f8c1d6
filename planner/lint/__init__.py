"""``planner lint``: catch misused chains in graph files and in existing
Celery code. Celery code is read with :mod:`ast`, never imported; graph
files are loaded (importing them is their contract).

Modules: :mod:`.collect` (the ast walk), :mod:`.rules` (rules over Celery
code), :mod:`.graphs` (graph files), :mod:`.engine` (paths, noqa,
selection), :mod:`.formats` (text, JSON, SARIF), :mod:`.findings`.

>>> from planner.lint import lint_paths
>>> lint_paths(["examples"])   # doctest: +SKIP
[]
"""

from .engine import LintUsageError, lint_paths
from .findings import RULES, Finding, Rule, chosen_codes

__all__ = ["RULES", "Finding", "LintUsageError", "Rule", "chosen_codes", "lint_paths"]
