"""The rules over Celery code: each takes a file's facts (and the tasks of
every linted file, to resolve names) and yields findings.

>>> from planner.lint.collect import collect
>>> facts = collect('''
... from celery import chain
... @app.task
... def add(x, y): return x + y
... @app.task
... def multiply(value, factor): return value * factor
... chain(add.s(2, 3), multiply.s(10, 20))
... ''')
>>> [f.code for f in check_file("t.py", facts, {})]
['PLN002']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .collect import Chain, Chord, FileFacts, Group, Opaque, Sig, TaskDef, nodes
from .findings import Finding

TaskIndex = Mapping[str, list[TaskDef]]  # task function name -> definitions in all linted files


def check_file(path: str, facts: FileFacts, index: TaskIndex) -> list[Finding]:
    """Every Celery-code finding for one file."""
    resolve = _resolver(facts, index)
    findings: list[Finding] = []
    for use in facts.canvases:
        for check in (independent_chain, result_arity, large_payload, canvas_of_one, empty_chord_header):
            findings.extend(check(path, facts, use.canvas, resolve))
        if use.applied:
            findings.extend(no_failure_handling(path, facts, use.canvas))
    findings.extend(sync_get_in_task(path, facts))
    return findings


def _resolver(facts: FileFacts, index: TaskIndex):
    def resolve(sig: Sig) -> TaskDef | None:
        if sig.task in facts.tasks:
            return facts.tasks[sig.task]
        candidates = index.get(sig.task or "", [])
        return candidates[0] if len(candidates) == 1 else None

    return resolve


def _finding(path, facts, node, code, message, fix) -> Finding:
    line, column = facts.position(node)
    return Finding(path, line, column, code, message, fix)


def _call_text(sig: Sig) -> str:
    return f"{sig.task}.{'si' if sig.immutable else 's'}({sig.args_text})"


# --- PLN001 ------------------------------------------------------------------------------------------------

def independent_chain(path, facts, canvas, resolve) -> Iterator[Finding]:
    """A chain of two or more plain signatures where every step after the
    first is ``.si()`` and either all steps are ``.si()`` or two ``.si()``
    steps run the same task. ``chain(add.s(2, 3), log_done.si("completed"))``
    (one ``.si`` after a producing step: ordering) is not flagged."""
    for chain in (node for node in nodes(canvas) if isinstance(node, Chain)):
        steps = chain.steps
        if not chain.complete or len(steps) < 2 or not all(isinstance(s, Sig) for s in steps):
            continue
        immutable = [s for s in steps if s.immutable]
        if not all(s.immutable for s in steps[1:]):
            continue
        tasks = [s.task for s in immutable]
        repeated = sorted({t for t in tasks if tasks.count(t) > 1 and t is not None})
        if len(immutable) == len(steps):
            why = "every step is .si(), so none uses another's result"
        elif repeated:
            why = f"{repeated[0]}.si() runs {tasks.count(repeated[0])} times and no step uses another's result"
        else:
            continue
        if len(immutable) == len(steps):
            hint = f"group({', '.join(_call_text(s) for s in steps)})"
        else:  # keep the producing step first, run the rest side by side after it
            hint = f"{_call_text(steps[0])} | group({', '.join(_call_text(s) for s in steps[1:])})"
        yield _finding(path, facts, chain.node, "PLN001", f"independent chain: {why}",
                       f"if the order does not matter, run them in parallel: {hint}")


# --- PLN002 ------------------------------------------------------------------------------------------------

def call_problem(task: TaskDef, nargs: int | None, kwargs: tuple[str, ...] | None) -> str | None:
    """Why calling ``task`` with ``nargs`` positional arguments and
    ``kwargs`` keyword names fails, or None (unknown parts are not judged)."""
    if nargs is not None and not task.varargs and nargs > len(task.positional):
        return f"it takes {len(task.positional)} positional argument(s) but would get {nargs}"
    if kwargs is None:
        return None
    by_position = task.positional[:nargs] if nargs is not None else ()
    for name in kwargs:
        if name in by_position:
            return f"'{name}' would get two values (the result shifts it to position {by_position.index(name) + 1})"
        if name not in task.positional and name not in task.keyword_only and not task.varkw:
            return f"it has no parameter '{name}'"
    if nargs is None:
        return None
    missing = [p for p in task.positional[nargs: task.required] if p not in kwargs]
    missing += [k for k in task.keyword_required if k not in kwargs]
    if missing:
        return f"'{missing[0]}' would get no value"
    return None


def _output(step) -> str:
    """What the step after ``step`` receives."""
    if isinstance(step, Group):
        return "the list of the group's results"
    if isinstance(step, Chain) and step.steps:
        return _output(step.steps[-1])
    return "the upstream result"


def result_arity(path, facts, canvas, resolve) -> Iterator[Finding]:
    """A ``.s()`` step that receives an upstream result its parameters
    cannot take on top of its own arguments: a TypeError at run time."""
    def walk(step, upstream: str | None):
        if isinstance(step, Sig):
            task = resolve(step)
            if upstream and not step.immutable and task is not None:
                nargs = None if step.nargs is None else step.nargs + 1
                problem = call_problem(task, nargs, step.kwargs)
                if problem:
                    own = f" plus ({step.args_text})" if step.args_text else ""
                    yield _finding(
                        path, facts, step.node, "PLN002",
                        f"{task.text()} cannot take {upstream}{own}: {problem}",
                        f"use {step.task}.si({step.args_text}) if it should not receive the result, "
                        f"or drop the argument the result replaces",
                    )
        elif isinstance(step, Chain):
            for position, sub in enumerate(step.steps):
                yield from walk(sub, upstream if position == 0 else _output(step.steps[position - 1]))
        elif isinstance(step, Group):
            for member in step.members:
                yield from walk(member, upstream)
        elif isinstance(step, Chord):
            yield from walk(step.header, upstream)
            if step.body is not None:
                yield from walk(step.body, "the list of the chord header's results")

    yield from walk(canvas, None)


# --- PLN003 ------------------------------------------------------------------------------------------------

def sync_get_in_task(path, facts) -> Iterator[Finding]:
    for wait in facts.waits:
        yield _finding(path, facts, wait.node, "PLN003",
                       f"task '{wait.task}' waits for another task's result with .{wait.method}() "
                       f"(blocks a worker slot: deadlock risk; Celery refuses it at run time)",
                       "chain the work instead (sig | next.s()), or let a callback/chord body consume the result")


# --- PLN004 ------------------------------------------------------------------------------------------------

def _consumes(step) -> bool:
    """Does ``step`` take its upstream result?"""
    if isinstance(step, Sig):
        return not step.immutable
    if isinstance(step, Chain):
        return bool(step.steps) and _consumes(step.steps[0])
    if isinstance(step, Group):
        return any(_consumes(m) for m in step.members)
    if isinstance(step, Chord):
        return _consumes(step.header)
    return False


def _producers(step) -> list[Sig]:
    """The signatures whose results leave ``step``."""
    if isinstance(step, Sig):
        return [step]
    if isinstance(step, Chain):
        return _producers(step.steps[-1]) if step.steps else []
    if isinstance(step, Group):
        return [sig for member in step.members for sig in _producers(member)]
    if isinstance(step, Chord):
        return _producers(step.body) if step.body is not None else []
    return []


def large_payload(path, facts, canvas, resolve) -> Iterator[Finding]:
    pairs = []
    for node in nodes(canvas):
        if isinstance(node, Chain):
            pairs += list(zip(node.steps, node.steps[1:], strict=False))
        elif isinstance(node, Chord) and node.body is not None:
            pairs.append((node.header, node.body))
    for before, after in pairs:
        if not _consumes(after):
            continue
        for sig in _producers(before):
            task = resolve(sig)
            if task and task.large_return:
                yield _finding(path, facts, sig.node, "PLN004",
                               f"{sig.task} returns {task.large_return} and the next step receives it "
                               f"through the broker and result backend",
                               "store the data (file, object store, database) and return a reference to it")


# --- PLN005 ------------------------------------------------------------------------------------------------

def no_failure_handling(path, facts, canvas) -> Iterator[Finding]:
    """An applied chain/chord of three or more signatures in a file that
    never mentions ``link_error`` / ``on_error`` (conservative)."""
    if facts.handles_errors or not isinstance(canvas, (Chain, Chord)):
        return
    count = sum(isinstance(node, Sig) for node in nodes(canvas))
    if count >= 3:
        kind = "chain" if isinstance(canvas, Chain) else "chord"
        yield _finding(path, facts, canvas.node, "PLN005",
                       f"a {kind} of {count} tasks is started with no error callback: a failure stops the rest "
                       "silently",
                       "attach one: workflow.on_error(handle_failure.s()) or apply_async(link_error=...)")


# --- PLN006 / PLN007 ---------------------------------------------------------------------------------------

def canvas_of_one(path, facts, canvas, resolve) -> Iterator[Finding]:
    for node in nodes(canvas):
        items = node.steps if isinstance(node, Chain) else node.members if isinstance(node, Group) else None
        if items is None or not node.complete or len(items) != 1 or isinstance(items[0], Opaque):
            continue
        if isinstance(node, Group) and any(isinstance(c, Chord) and c.header is node for c in nodes(canvas)):
            continue  # a chord header of one is still a chord
        kind = "chain" if isinstance(node, Chain) else "group"
        yield _finding(path, facts, node.node, "PLN006", f"{kind} of one signature",
                       f"use the signature directly instead of wrapping it in {kind}(...)")


def empty_chord_header(path, facts, canvas, resolve) -> Iterator[Finding]:
    for node in nodes(canvas):
        if isinstance(node, Chord) and node.header.complete and not node.header.members:
            yield _finding(path, facts, node.node, "PLN007",
                           "chord with an empty header: the body runs at once with []",
                           "build the header before the chord, or call the body directly")
