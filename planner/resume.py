"""``planner run GRAPH --resume REPORT.json``: finish a run from its report.

Every report written by ``--json`` (complete or partial) records each node's
*fingerprint*: its task, arguments, ``.s``/``.si`` and the names of its
predecessors, hashed. A node is reused — not run again, its stored result
fed to its successors — when it succeeded in the report, its fingerprint is
unchanged, and every predecessor is reused too (a predecessor that runs again
may give another result: then its descendants run again, as make does).
Everything else runs, by exact dispatch, with exactly its contract input.

>>> import networkx as nx
>>> from celery import signature
>>> graph = nx.DiGraph([("a", "b")])
>>> prints = fingerprints(graph, {"a": signature("add", (1, 2), immutable=True), "b": signature("add", (4,))})
>>> old = {"nodes": {"a": {"state": "SUCCESS", "result": 3, "fingerprint": prints["a"]},
...                  "b": {"state": "FAILURE", "fingerprint": prints["b"]}}}
>>> sorted(reusable(graph, prints, old))
['a']
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import networkx as nx

from .errors import PlannerError

FINGERPRINT = "planner_fingerprint"  # node attribute of a run's plan graph (kept in the run's record)


def fingerprint(signature, predecessors: list[str]) -> str:
    """What a node's result depends on besides its inputs' results: task,
    arguments, whether it takes its input, and from which nodes."""
    identity = {"task": signature.task, "args": list(signature.args or ()), "kwargs": dict(signature.kwargs or {}),
                "immutable": bool(signature.immutable), "predecessors": predecessors}
    text = json.dumps(identity, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fingerprints(graph: nx.DiGraph, signatures: Mapping) -> dict[str, str]:
    """Every node's fingerprint, by name."""
    prints = {}
    for node in graph:
        name = str(node)
        extra = ["map"] if graph.nodes[node].get("map") else []
        prints[name] = fingerprint(signatures[name], [str(p) for p in graph.predecessors(node)] + extra)
    return prints


def load_report(path: str | Path) -> dict:
    """A report written by ``planner run --json``; one line naming the file
    when it is missing or not such a report."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlannerError(f"--resume: {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PlannerError(f"--resume: {path} is not a JSON report written by planner run --json ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise PlannerError(f"--resume: {path} is not a report written by planner run --json (no \"nodes\")")
    return data


def reusable(graph: nx.DiGraph, prints: Mapping[str, str], old: dict) -> dict[str, dict]:
    """The nodes of ``old`` (a report) to reuse: name → its entry there."""
    previous = old.get("nodes") or {}
    reused: dict[str, dict] = {}
    for node in nx.topological_sort(graph):
        name = str(node)
        entry = previous.get(name)
        if (isinstance(entry, dict) and entry.get("state") == "SUCCESS" and entry.get("fingerprint") == prints[name]
                and all(str(p) in reused for p in graph.predecessors(node))):
            reused[name] = entry
    return reused
