"""An independent reference: a tiny interpreter of Celery's documented canvas
semantics, run over the canvas's serialized (JSON) form.

Written apart from planner's emitter and analysis, it walks what Celery would
receive and reports, for every task, the input it is handed and the set of
tasks that have certainly finished before it starts:

- a chain runs its tasks in order, each handed the previous one's result;
- a group hands its input to every member; its result is their results' list;
- a chord runs its header group, then its body, handed the header's list;
- an immutable signature (``.si()``) is handed nothing;
- ``planner.gather`` is handed nothing and returns the results of the task
  ids it names (one, or the list), as read from the result store;
- ``celery.accumulate`` (``index=0``) returns what it is handed.

Results are represented by node names, so a task's "result" is its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

NOTHING = object()


@dataclass
class Trace:
    received: dict = field(default_factory=dict)  # node -> input (NOTHING if none)
    finished_before: dict = field(default_factory=dict)  # node -> frozenset of nodes
    runs: dict = field(default_factory=dict)  # node -> how many times it ran


def interpret(canvas, node_of_task_id: dict[str, str]) -> Trace:
    """Interpret ``canvas`` (a Celery signature or its dict form)."""
    data = json.loads(json.dumps(canvas))
    trace = Trace()
    _run(data, NOTHING, frozenset(), trace, node_of_task_id)
    return trace


def _run(sig: dict, given, done: frozenset, trace: Trace, node_of):
    kind = sig.get("subtask_type")
    kwargs = sig.get("kwargs") or {}
    if kind == "chain":
        value = given
        for task in kwargs["tasks"]:
            value, done = _run(task, value, done, trace, node_of)
        return value, done
    if kind == "group":
        values, finished = [], set(done)
        for task in kwargs["tasks"]:
            value, after = _run(task, given, done, trace, node_of)
            values.append(value)
            finished |= after
        return values, frozenset(finished)
    if kind == "chord":
        header = kwargs["header"]
        header = header if isinstance(header, dict) else {"subtask_type": "group", "kwargs": {"tasks": header}}
        values, done = _run(header, given, done, trace, node_of)
        return _run(kwargs["body"], values, done, trace, node_of)
    if kind is not None:
        raise AssertionError(f"unexpected canvas kind {kind!r}")
    received = NOTHING if sig.get("immutable") else given
    if sig["task"] == "planner.gather":
        assert received is NOTHING, "gather must be immutable"
        task_ids, single = sig["args"][0], sig["args"][1] if len(sig["args"]) > 1 else False
        names = [node_of[t] for t in task_ids]
        for name in names:
            assert name in done, f"gather reads {name} before it is certainly finished"
        return (names[0] if single else names), done
    if sig["task"] == "celery.accumulate":
        return received, done
    node = node_of[sig["options"]["task_id"]]
    trace.received[node] = received
    trace.finished_before[node] = done
    trace.runs[node] = trace.runs.get(node, 0) + 1
    return node, done | {node}
