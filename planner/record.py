"""A run's record: what another process needs to follow a run by its id
alone — node names and task ids, the plan (its graph, tree, added
dependencies and strategy, enough to report and draw it), the queue of
each node, submission time, parameters and, for exact dispatch, the exact
run's id.

It is stored as one JSON value in the run's result backend under
``planner-run-<id>``, with Celery's own ``set``, so it expires with the
app's ``result_expires`` (Celery's default: one day) as the task results
do. A backend that is not a key-value store (``rpc://``, a database)
cannot hold it: the run still goes, but it cannot be attached to.

>>> record = RunRecord.from_json(RunRecord("r1", {"a": "t1"}, plan_of_one("a"), submitted=0.0).to_json())
>>> record.run_id, record.task_ids, record.plan.root
('r1', {'a': 't1'}, Task(name='a', gather=None))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import networkx as nx

from .errors import PlannerError
from .plan import Chain, Chord, Group, Plan, Task, children, walk
from .preflight import masked

KEY_PREFIX = "planner-run-"
CANCELLED_SUFFIX = "-cancelled"
MOVED_SUFFIX = "-moved"  # nodes sent again under new task ids (a canvas that lost a worker goes on exactly)
COLUMNS = ("immutable", "cost", "label")  # the attributes every node of a plan graph has
FORMAT = 1  # bumped when the record's layout changes


@dataclass
class RunRecord:
    """One run, as stored: ``task_ids`` maps node names to task ids in the
    plan graph's order; ``queues`` maps node names to their queue (the
    stall guard says what waits where); ``submitted`` is wall-clock time."""

    run_id: str
    task_ids: dict[str, str]
    plan: Plan
    submitted: float
    queues: dict[str, str | None] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    exact_run: str | None = None
    where: str = ""
    warnings: list[str] = field(default_factory=list)
    embedded: bool = False  # ran on the embedded worker: only this process reaches it
    reused: list[str] = field(default_factory=list)  # nodes a resumed run took from its report (run --resume)
    unstored: str | None = None  # why the backend could not keep it (not stored itself)
    signatures: dict = field(default_factory=dict, repr=False)  # as sent, in the sending process only (not stored)

    def to_json(self) -> str:
        plan = self.plan
        names = list(plan.graph)
        index = {name: i for i, name in enumerate(names)}
        columns: dict[str, list] = {key: [] for key in COLUMNS}
        other: dict[int, dict] = {}  # the attributes few nodes have (behaviour, map), by node index
        for i, (_, attributes) in enumerate(plan.graph.nodes(data=True)):
            for key, values in columns.items():
                values.append(attributes.get(key))
            rest = {key: value for key, value in attributes.items() if key not in columns}
            if rest:
                other[i] = rest
        # Edges per target, predecessors in order: the graph is rebuilt with the same predecessor order.
        edges = [[index[u], i] for i, predecessors in enumerate(plan.graph.pred.values()) for u in predecessors]
        return json.dumps({
            "format": FORMAT, "run_id": self.run_id, "submitted": self.submitted, "where": self.where,
            "strategy": plan.strategy, "reason": plan.reason, "exact_run": self.exact_run,
            "parameters": self.parameters, "warnings": self.warnings, "embedded": self.embedded,
            "nodes": names, "task_ids": [self.task_ids[name] for name in names],
            "queues": [self.queues.get(name) for name in names], "columns": columns, "other": other, "edges": edges,
            "added": [[index[u], index[v]] for u, v in plan.added], "tree": _flat_tree(plan.root, index),
            "metadata": plan.metadata, "reused": self.reused,
        }, default=repr, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "RunRecord":
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"run record format {data.get('format')!r}, this planner reads {FORMAT}")
        names = data["nodes"]
        graph = nx.DiGraph()
        columns, other = data["columns"], data["other"]
        for i, name in enumerate(names):
            attributes = {key: values[i] for key, values in columns.items() if values[i] is not None}
            attributes.update(other.get(str(i), ()))
            graph.add_node(name, **attributes)
        graph.add_edges_from((names[u], names[v]) for u, v in data["edges"])
        plan = Plan(graph, _tree_of(data["tree"], names), tuple((names[u], names[v]) for u, v in data["added"]),
                    data["strategy"], data["reason"], data.get("metadata") or {})
        return cls(data["run_id"], dict(zip(names, data["task_ids"], strict=True)), plan, data["submitted"],
                   dict(zip(names, data["queues"], strict=True)), data.get("parameters") or {},
                   data.get("exact_run"), data.get("where", ""), data.get("warnings") or [],
                   bool(data.get("embedded")), data.get("reused") or [])


def _flat_tree(root, index) -> list:
    """The plan tree as a flat list, children before parents (the root is
    last): ``["task", node, gather]``, ``["chain"|"group", [child, ...]]``,
    ``["chord", header, body]``. Flat, so deep plans need no recursion."""
    steps: list = []
    position: dict[int, int] = {}
    for step in reversed(list(walk(root))):  # reversed pre-order: every child comes before its parent
        if isinstance(step, Task):
            gather = None if step.gather is None else [index[name] for name in step.gather]
            steps.append(["task", index[step.name], gather])
        elif isinstance(step, Chord):
            steps.append(["chord", position[id(step.header)], position[id(step.body)]])
        else:
            steps.append([type(step).__name__.lower(), [position[id(child)] for child in children(step)]])
        position[id(step)] = len(steps) - 1
    return steps


def _tree_of(steps: list, names: list[str]):
    built: list = []
    for kind, *rest in steps:
        if kind == "task":
            node, gather = rest
            built.append(Task(names[node], None if gather is None else tuple(names[i] for i in gather)))
        elif kind == "chord":
            built.append(Chord(built[rest[0]], built[rest[1]]))
        else:
            built.append({"chain": Chain, "group": Group}[kind](tuple(built[i] for i in rest[0])))
    return built[-1]


def plan_of_one(name: str) -> Plan:
    """A plan of one task (for examples and tests)."""
    graph = nx.DiGraph()
    graph.add_node(name)
    return Plan(graph, Task(name))


def key(run_id: str) -> str:
    return f"{KEY_PREFIX}{run_id}"


def why_unstorable(app) -> str | None:
    """Why ``app``'s result backend cannot hold run records (None: it can)."""
    from celery.backends.base import BaseKeyValueStoreBackend

    if isinstance(app.backend, BaseKeyValueStoreBackend):
        return None
    return (f"the result backend {masked(app.conf.result_backend)} keeps no run records (it is not a key-value "
            "store): attaching to a run by id needs a Redis result backend (redis://...)")


def _redis(backend) -> bool:
    from celery.backends.redis import RedisBackend  # imports without redis-py too

    return isinstance(backend, RedisBackend)


def store(app, record: RunRecord) -> str | None:
    """Store ``record`` in ``app``'s result backend, expiring as results do
    (``result_expires``); return why it cannot be stored, or None."""
    reason = why_unstorable(app)
    if reason is None:
        backend, text = app.backend, record.to_json()
        if _redis(backend):  # Celery's set would also PUBLISH the whole record
            backend.client.set(key(record.run_id), text, ex=backend.expires or None)
        else:
            backend.set(key(record.run_id), text)
    return reason


def mark_cancelled(app, run_id: str) -> None:
    """Say in the backend that ``run_id`` was cancelled (its followers stop
    waiting for nodes that will never be sent)."""
    if why_unstorable(app) is None:
        app.backend.set(key(run_id) + CANCELLED_SUFFIX, "1")


def cancelled(app, run_id: str) -> bool:
    return why_unstorable(app) is None and app.backend.get(key(run_id) + CANCELLED_SUFFIX) is not None


def store_moved(app, run_id: str, moved: dict[str, str]) -> None:
    """Say in the backend that nodes of ``run_id`` run under new task ids
    (node → task id, every move so far), so every follower keeps up."""
    if why_unstorable(app) is None:
        app.backend.set(key(run_id) + MOVED_SUFFIX, json.dumps(moved))


def moved(app, run_id: str) -> dict[str, str]:
    """The nodes of ``run_id`` sent again under new task ids (node → id)."""
    if why_unstorable(app) is not None:
        return {}
    raw = app.backend.get(key(run_id) + MOVED_SUFFIX)
    return json.loads(raw) if raw else {}


def load(app, run_id: str) -> RunRecord:
    """The record of ``run_id`` in ``app``'s result backend; one-line
    :class:`PlannerError` when it cannot be read or is not there."""
    reason = why_unstorable(app)
    if reason is not None:
        raise PlannerError(f"cannot attach to run '{run_id}': {reason}")
    raw = app.backend.get(key(run_id))
    if raw is None:
        raise PlannerError(f"no run '{run_id}' in the result backend {masked(app.conf.result_backend)}: "
                           "unknown id, or its record expired (records expire with the results, after the "
                           "submitting app's result_expires: Celery's default is 1 day)")
    try:
        return RunRecord.from_json(raw)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise PlannerError(f"run '{run_id}': its record cannot be read ({error})") from error

