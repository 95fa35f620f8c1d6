"""The rules over Celery code: each takes a file's facts (and the index of
the tasks of every linted file, to resolve names) and yields findings.

>>> from planner.lint.collect import collect
>>> facts = collect('''
... from celery import chain
... @app.task
... def add(x, y): return x + y
... @app.task
... def multiply(value, factor): return value * factor
... chain(add.s(2, 3), multiply.s(10, 20))
... ''')
>>> [f.code for f in check_file("t.py", facts, TaskIndex())]
['PLN002']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .collect import Chain, Chord, Errback, FileFacts, Group, Sig, TaskCall, TaskDef, nodes
from .findings import Finding

# --- resolving tasks across files --------------------------------------------------------------------------

class TaskIndex:
    """The tasks of every linted file, kept compact (definitions only, no
    trees), to resolve what a signature names in another file.

    >>> index = TaskIndex()
    >>> index.resolve(("free", "add")) is None
    True
    """

    def __init__(self):
        self.modules: dict[str, list[tuple[tuple[str, ...], dict, dict]]] = {}  # last part -> files
        self.by_name: dict[str, list[TaskDef]] = {}
        self.by_registered: dict[str, list[TaskDef]] = {}
        self._found: dict[tuple, list] = {}  # module reference -> its files

    def add(self, module: tuple[str, ...], facts: FileFacts) -> None:
        """Index the tasks (and package re-exports) of the file at
        ``module`` (its path parts without the suffix)."""
        if not (facts.tasks or facts.reexports) or not module:
            return
        self._found.clear()
        parts = module[:-1] if module[-1] == "__init__" else module
        if parts:
            self.modules.setdefault(parts[-1], []).append((parts, facts.tasks, facts.reexports))
        for task in facts.tasks.values():
            self.by_name.setdefault(task.name, []).append(task)
            if task.registered:
                self.by_registered.setdefault(task.registered, []).append(task)

    def module_files(self, parts: tuple[str, ...]) -> list[Path]:
        """The linted files (with tasks or re-exports) whose module path
        ends with ``parts``: ``("proj", "tasks")`` is ``.../proj/tasks.py``
        or ``.../proj/tasks/__init__.py``."""
        found = []
        for full, _, _ in self._files((None, tuple(parts))):
            package = Path(*full, "__init__.py")
            found.append(package if package.is_file() else Path(*full[:-1], full[-1] + ".py"))
        return found

    def _files(self, module: tuple) -> list:
        found = self._found.get(module)
        if found is None:  # the same module is imported by many files: each suffix scan done once
            found = self._found[module] = self._scan(module)
        return found

    def _scan(self, module: tuple) -> list:
        anchor, parts = module
        full = (*anchor, *parts) if anchor is not None else tuple(parts)
        if not full:
            return []
        candidates = self.modules.get(full[-1], [])
        if anchor is not None:
            return [c for c in candidates if c[0] == full]
        return [c for c in candidates if c[0][-len(full):] == full]

    def _in_module(self, module: tuple, name: str, depth: int = 0) -> TaskDef | None:
        found = []
        for _, tasks, reexports in self._files(module):
            if name in tasks:
                found.append(tasks[name])
            elif name in reexports and depth < 4:
                source, original = reexports[name]
                task = self._in_module(source, original, depth + 1)
                if task is not None:
                    found.append(task)
        return found[0] if len(found) == 1 or (found and all(f == found[0] for f in found)) else None

    def _unique(self, name: str) -> TaskDef | None:
        candidates = self.by_name.get(name, [])
        return candidates[0] if len(candidates) == 1 else None

    def resolve(self, ref: tuple | None, facts: FileFacts | None = None) -> TaskDef | None:
        """The task a :class:`~planner.lint.collect.TaskRef` names in the
        file of ``facts``, or None when it is not among the linted files or
        not unique."""
        if ref is None:
            return None
        local = facts.tasks if facts is not None else {}
        kind = ref[0]
        if kind == "local":
            return facts.local_tasks.get(ref[2]) if facts is not None else None
        if kind == "module":
            return self._in_module(ref[1], ref[2])
        if kind == "free":
            return local.get(ref[1]) or self._unique(ref[1])
        if kind == "registered":
            name = ref[1]
            explicit = self.by_registered.get(name, [])
            if len(explicit) == 1:
                return explicit[0]
            module, _, function = name.rpartition(".")
            if module:
                task = self._in_module((None, tuple(module.split("."))), function)
                if task is not None:
                    return task
            local_task = local.get(function)
            if local_task is not None and local_task.registered in (None, name):
                return local_task
            return self._unique(function)
        return None


def check_file(path: str, facts: FileFacts, index: TaskIndex | None = None) -> list[Finding]:
    """Every Celery-code finding for one file (one per place and code)."""
    index = index if index is not None else TaskIndex()
    context = _Context(path, facts, index)
    findings: list[Finding] = []
    for use in facts.canvases:
        canvas = use.canvas
        findings += independent_chain(context, canvas)
        findings += call_arguments(context, canvas, use.start)
        findings += large_payload(context, canvas)
        findings += canvas_of_one(context, canvas, use.start)
        findings += empty_chord_header(context, canvas)
        findings += celery_mishandled_shape(context, canvas)
        if use.applied:
            findings += no_failure_handling(context, canvas)
    for call in facts.calls:
        findings += direct_call_arguments(context, call)
    for errback in facts.errbacks:
        findings += errback_arguments(context, errback)
    findings += sync_get_in_task(context)
    unique: dict[tuple, Finding] = {}
    for finding in findings:
        unique.setdefault((finding.line, finding.column, finding.code), finding)
    return list(unique.values())


@dataclass
class _Context:
    path: str
    facts: FileFacts
    index: TaskIndex

    def resolve(self, sig: Sig) -> TaskDef | None:
        return self.index.resolve(sig.ref, self.facts)

    def finding(self, at, code, message, fix) -> Finding:
        return Finding(self.path, at[0], at[1], code, message, fix)


# --- PLN001 ------------------------------------------------------------------------------------------------

def independent_chain(context: _Context, canvas) -> Iterator[Finding]:
    """A fan-out written as a chain: after the first step, two or more
    ``.si()`` steps that all run one task with different arguments (and
    the first step runs it too, or produces something nobody receives).
    Different tasks in a row are not flagged: their order may be the point
    (download, then extract what was downloaded)."""
    for chain in (node for node in nodes(canvas) if isinstance(node, Chain)):
        steps = chain.steps
        if not chain.complete or len(steps) < 2 or not all(isinstance(s, Sig) for s in steps):
            continue
        rest = steps[1:] if not (steps[0].immutable and steps[0].task == steps[1].task) else steps
        tasks = {s.task for s in rest}
        if len(rest) < 2 or not all(s.immutable for s in rest) or len(tasks) != 1 or None in tasks:
            continue
        arguments = [s.args_text for s in rest]
        if len(set(arguments)) != len(arguments):
            continue  # the same call twice: repeated on purpose (polling, retrying), not a fan-out
        task = rest[0].task
        members = ", ".join(s.text for s in rest)
        hint = f"group({members})" if rest is steps else f"{steps[0].text} | group({members})"
        yield context.finding(
            chain.at, "PLN001",
            f"independent chain: {task}.si() runs {len(rest)} times in a row with different arguments and no step "
            f"receives another's result (assumes each {task} call does not need the previous one's side effects)",
            f"if they are independent, run them in parallel: {hint} (its result is then the list of their results)")


# --- PLN002 ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Incoming:
    """What Celery passes a step before its own arguments: ``nargs``
    positional values and ``kwargs`` keyword names (None: unknown)."""

    nargs: int | None
    kwargs: tuple[str, ...] | None
    what: str  # "the upstream result", "" for nothing, ...


UNKNOWN = Incoming(None, None, "")
NOTHING = Incoming(0, (), "")


def call_problem(task: TaskDef, nargs: int | None, kwargs: tuple[str, ...] | None,
                 incoming: Incoming = NOTHING) -> str | None:
    """Why calling ``task`` with ``incoming`` and then ``nargs`` positional
    arguments and ``kwargs`` keyword names fails, or None. Only what is
    certain is reported: unknown parts (``*args``, ``**kwargs``, arguments
    given where the canvas is started elsewhere) are not judged."""
    if task.wrapped:
        return None  # a decorator under the task's may change the parameters Celery checks
    before = incoming.nargs
    least = (before or 0) + (nargs or 0)
    if nargs is not None and not task.varargs and least > len(task.positional):
        more = "at least " if before is None else ""
        return f"it takes {len(task.positional)} positional argument(s) but would get {more}{least}"
    if kwargs is not None:
        for name in kwargs:
            if name in task.positional[:least]:
                position = task.positional.index(name)
                if before and position < before:
                    return f"'{name}' would get two values (the result shifts it to position {position + 1})"
                return f"'{name}' would get two values (by position and by keyword)"
            if name not in task.positional and name not in task.keyword_only and not task.varkw:
                return f"it has no parameter '{name}'"
    if nargs is None or kwargs is None or before is None or incoming.kwargs is None:
        return None
    names = set(kwargs) | set(incoming.kwargs)
    missing = [p for p in task.positional[before + nargs: task.required] if p not in names]
    missing += [k for k in task.keyword_required if k not in names]
    if missing:
        return f"'{missing[0]}' would get no value"
    return None


def _output(step) -> str:
    """What the step after ``step`` receives."""
    if isinstance(step, Group):
        return "the list of the group's results"
    if isinstance(step, Chord):
        return "the chord body's result"
    if isinstance(step, Chain) and step.steps:
        return _output(step.steps[-1])
    return "the upstream result"


def _own(sig: Sig) -> str:
    return f"({sig.args_text})"


def call_arguments(context: _Context, canvas, start=None) -> Iterator[Finding]:
    """PLN002: a step whose task cannot take what it is called with — the
    upstream result (``.s()``), its own arguments, and for the first steps
    of a canvas started where it is built, the start's arguments."""
    if start is None:
        first = UNKNOWN
    elif start.nargs is None or start.kwargs is None:
        first = UNKNOWN
    else:
        shown = f"the start arguments ({start.args_text})" if start.args_text else ""
        first = Incoming(start.nargs, start.kwargs, shown)
    stack = [(canvas, first)]
    while stack:
        step, incoming = stack.pop()
        if isinstance(step, Sig):
            finding = _check_step(context, step, incoming)
            if finding:
                yield finding
        elif isinstance(step, Chain):
            for position, sub in enumerate(step.steps):
                upstream = incoming if position == 0 else Incoming(1, (), _output(step.steps[position - 1]))
                stack.append((sub, upstream))
        elif isinstance(step, Group):
            stack.extend((member, incoming) for member in step.members)
        elif isinstance(step, Chord):
            stack.extend((member, incoming) for member in step.header.members)
            if step.body is not None:
                stack.append((step.body, Incoming(1, (), "the list of the chord header's results")))


def _check_step(context: _Context, sig: Sig, incoming: Incoming) -> Finding | None:
    task = context.resolve(sig)
    if task is None:
        return None
    received = NOTHING if sig.immutable else incoming
    problem = call_problem(task, sig.nargs, sig.kwargs, received)
    if not problem:
        return None
    if received.what:
        plus = f" plus {_own(sig)}" if sig.args_text else ""
        message = f"{task.text()} cannot take {received.what}{plus}: {problem}"
    else:
        message = f"{task.text()} cannot take {_own(sig)}: {problem}"
    own_problem = call_problem(task, sig.nargs, sig.kwargs, NOTHING if sig.immutable else UNKNOWN)
    if received.nargs == 1 and received.what.startswith("the") and not own_problem \
            and "start arguments" not in received.what:
        fix = (f"use {sig.task}.si({sig.args_text}) if it should not receive the result, "
               f"or drop the argument the result replaces")
    else:
        fix = _option_fix(problem, "signature") or f"call it with what {task.text()} takes"
    return context.finding(sig.at, "PLN002", message, fix)


def direct_call_arguments(context: _Context, call: TaskCall) -> Iterator[Finding]:
    """PLN002 for a task sent directly (``.delay``, ``.apply_async``,
    ``send_task``): the whole call is known when it is written out."""
    task = context.index.resolve(call.ref, context.facts)
    if task is None:
        return
    problem = call_problem(task, call.nargs, call.kwargs)
    if problem:
        fix = _option_fix(problem, call.how) or f"call it with what {task.text()} takes"
        yield context.finding(call.at, "PLN002", f"{task.text()} cannot take ({call.args_text}): {problem}", fix)


# Keywords of ``apply_async`` that people pass to ``.delay()`` or ``.s()``, where they reach the task
# as arguments instead (celery/app/task.py: ``delay(*args, **kwargs)`` is ``apply_async(args, kwargs)``).
EXECUTION_OPTIONS = frozenset({
    "countdown", "eta", "expires", "queue", "routing_key", "exchange", "priority", "link", "link_error",
    "retry", "retry_policy", "task_id", "headers", "serializer", "compression", "time_limit",
    "soft_time_limit", "ignore_result", "shadow", "add_to_parent",
})


def _option_fix(problem: str, how: str) -> str | None:
    """The fix when the unknown keyword is an execution option: it reaches
    the task as an argument; options go to ``apply_async`` or ``.set()``."""
    name = problem.partition("it has no parameter '")[2].rstrip("'")
    if name not in EXECUTION_OPTIONS or how in ("apply_async", "send_task"):
        return None
    if how == "signature":
        return f"'{name}' is an execution option, not an argument: set it with .set({name}=...) on the signature"
    return (f"'{name}' is an execution option, not an argument: .{how}() passes it to the task; "
            f"use .apply_async((...), {name}=...)")


# --- PLN003 ------------------------------------------------------------------------------------------------

def sync_get_in_task(context: _Context) -> Iterator[Finding]:
    for wait in context.facts.waits:
        yield context.finding(wait.at, "PLN003",
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


def large_payload(context: _Context, canvas) -> Iterator[Finding]:
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
            task = context.resolve(sig)
            if task and task.large_return:
                yield context.finding(sig.at, "PLN004",
                                      f"{sig.task} returns {task.large_return} and the next step receives it "
                                      f"through the broker and result backend",
                                      "store the data (file, object store, database) and return a reference to it")


# --- PLN005 ------------------------------------------------------------------------------------------------

def no_failure_handling(context: _Context, canvas) -> Iterator[Finding]:
    """An applied chain/chord of three or more signatures in a file that
    never mentions ``link_error`` / ``on_error`` (conservative)."""
    if context.facts.handles_errors or not isinstance(canvas, (Chain, Chord)):
        return
    count = sum(isinstance(node, Sig) for node in nodes(canvas))
    if count >= 3:
        kind = "chain" if isinstance(canvas, Chain) else "chord"
        yield context.finding(canvas.at, "PLN005",
                              f"a {kind} of {count} tasks is started with no error callback: a failure stops the "
                              "rest silently",
                              "attach one: workflow.on_error(handle_failure.s()) or apply_async(link_error=...)")


# --- PLN006 / PLN007 ---------------------------------------------------------------------------------------

def canvas_of_one(context: _Context, canvas, start=None) -> Iterator[Finding]:
    """Only wrappers Celery itself runs as their one signature: ``chain(x)``
    and a one-member group inside a chain. A lone ``group([x])`` is kept
    (its result is a list), and so is ``group([x]) | y`` (a chord: ``y``
    receives ``[x's result]``). The hint never changes what runs."""
    for node in nodes(canvas):
        if not isinstance(node, Chain):
            continue
        for at, member in node.unrolled:
            if isinstance(member, Sig):
                yield context.finding(
                    at, "PLN006", "group of one signature inside a chain: Celery runs it as the signature itself",
                    f"use {member.text} in its place (the next step receives its result either way, not a list)")
        if not (node.complete and node.items == 1 and len(node.steps) == 1 and isinstance(node.steps[0], Sig)):
            continue
        sig = node.steps[0]
        if node is canvas and start is not None and start.how == "call":
            fix = (f"start the signature with .delay(): {sig.text}.delay({start.args_text}) — calling it, "
                   f"{sig.text}(), would run the task here, in this process, instead of sending it to a worker")
        elif node is canvas and start is not None:
            fix = f"use {sig.text} in its place: .{start.how}() works the same on it"
        elif node is canvas:
            fix = (f"use {sig.text} in its place and start it with .delay() or .apply_async() (calling a signature, "
                   f"{sig.text}(), runs the task in this process instead of sending it)")
        else:
            fix = f"use {sig.text} in its place: a chain of one inside a canvas runs as its signature"
        yield context.finding(node.at, "PLN006", "chain of one signature", fix)


def empty_chord_header(context: _Context, canvas) -> Iterator[Finding]:
    for node in nodes(canvas):
        if isinstance(node, Chord) and node.header.complete and not node.header.members:
            yield context.finding(node.at, "PLN007", "chord with an empty header: the body runs at once with []",
                                  "build the header before the chord, or call the body directly")


# --- PLN008 ------------------------------------------------------------------------------------------------

def _chord_text(chord: Chord) -> str:
    """Source for ``chord``, written so that Celery keeps it a chord."""
    if chord.written == "chain" or not chord.text:
        header = chord.header.text or "[...]"
        body = getattr(chord.body, "text", "") or "..."
        return f"chord({header}, {body})"
    return chord.text


def celery_mishandled_shape(context: _Context, canvas) -> Iterator[Finding]:
    """PLN008: canvas shapes Celery 5 runs wrongly although they are valid:

    - a chord (``chord(...)``, ``group(...) | task``, ``chain(group(...),
      task)``) that is a direct member of a group, when that group sits in a
      chord header (directly, through chains, or in a header member's
      body): the inner chord reports to the group, the outer chord never
      completes (hangs on Redis/RabbitMQ, ChordError or dropped results
      elsewhere). The fix wraps the chord in a one-element chain.
    - a group that is a direct member of a chord header: Celery flattens
      it into the header and the body receives its results reversed.
    """
    stack = [(canvas, False)]
    while stack:
        node, in_header = stack.pop()
        if isinstance(node, Chain):
            stack.extend((step, in_header) for step in node.steps)
        elif isinstance(node, Group):
            for member in node.members:
                if in_header and isinstance(member, Chord):
                    wrapped = f"chain({_chord_text(member)})"
                    yield context.finding(
                        member.at, "PLN008",
                        "chord directly inside a group within a chord header: Celery reports the inner chord's "
                        "result to that group, which has no callback, so the outer chord hangs (Redis, RabbitMQ), "
                        "raises ChordError or drops results (celery#4681, #8182)",
                        f"wrap the chord in a one-element chain, which adds no task and no dependency: {wrapped} "
                        f"(chain(group(...), task) does not help: Celery turns it back into the same chord)")
                stack.append((member, in_header))
        elif isinstance(node, Chord):
            for member in node.header.members:
                if isinstance(member, Group) and not (member.complete and len(member.members) == 1):
                    flat = ", ".join(getattr(m, "text", "") or "..." for m in member.members)
                    yield context.finding(
                        member.at, "PLN008",
                        "group directly inside a chord header: Celery flattens it into the header and the body "
                        "receives its results in reverse order",
                        f"list its members in the header itself, in order ({flat}), or keep them together as one "
                        f"item with chain({member.text or 'group(...)'}) (the body then receives their results as one "
                        "list, in order)")
                stack.append((member, True))
            if node.body is not None:
                stack.append((node.body, in_header))


# --- PLN009 ------------------------------------------------------------------------------------------------

def _looks_like(name: str, what: str) -> bool:
    """Does a parameter named ``name`` look meant for what Celery passes
    errbacks (the failed task's id; request, exc, traceback)?"""
    name = name.lower()
    if what == "id":
        return name in ("id", "uuid", "tid") or "task" in name or "uuid" in name
    if what == "request":
        return name in ("req", "ctx", "context") or "request" in name
    if what == "exc":
        return name in ("e", "ex") or "exc" in name or "err" in name
    return "tb" in name or "trace" in name or "info" in name


def errback_convention(task: TaskDef, sig: Sig) -> tuple[int, str]:
    """(how many values Celery puts before the errback's own arguments,
    what they are), as celery/backends/base.py ``_call_task_errbacks``
    decides: a function task that is not ``bind=True`` and whose header,
    after the signature's stored arguments, still takes more than one
    positional argument (or ``*args``) is called in the worker as
    ``errback(request, exc, traceback)``; any other errback is sent as a
    task with the failed task's id first. Immutable (``.si()``) errbacks
    get neither."""
    if sig.immutable:
        return 0, ""
    if task.bound:
        return 1, "the failed task's id"
    remaining = list(task.positional)
    if sig.nargs and sig.nargs <= len(remaining):
        remaining = remaining[sig.nargs:]
    elif sig.nargs:
        remaining = list(task.positional)  # the partial would not bind: Celery falls back to the full header
    for name in sig.kwargs or ():
        if name in remaining:
            remaining = remaining[: remaining.index(name)]  # later parameters become keyword-only
    if task.varargs or len(remaining) > 1:
        return 3, "(request, exc, traceback)"
    return 1, "the failed task's id"


def errback_arguments(context: _Context, errback: Errback) -> Iterator[Finding]:
    """PLN009: an errback whose task cannot take what Celery passes it, or
    whose own arguments land where Celery's values were not expected."""
    sig = errback.sig
    task = context.resolve(sig)
    if task is None or task.wrapped or sig.nargs is None:
        return
    before, what = errback_convention(task, sig)
    style = ("Celery calls it in the worker as errback(request, exc, traceback, *own)" if before == 3
             else "Celery sends it as a task with the failed task's id first" if before == 1
             else "an immutable errback receives only its own arguments")
    if task.bound and before:
        style += " (a bind=True task is always called that way)"
    problem = call_problem(task, sig.nargs, sig.kwargs, Incoming(before, (), what))
    if problem:
        yield context.finding(sig.at, "PLN009", f"errback {task.text()} attached with {errback.how}: {style}, "
                              f"so {problem}", _errback_fix(task, before))
        return
    receiving = task.positional[:before]
    expected = ["id"] if before == 1 else ["request", "exc", "traceback"]
    strange = [name for name, what in zip(receiving, expected, strict=False) if not _looks_like(name, what)]
    spilled = before + sig.nargs > len(task.positional)
    if strange and sig.nargs:
        yield context.finding(
            sig.at, "PLN009",
            f"errback {task.text()} attached with {errback.how}: {style}, so '{strange[0]}' receives "
            f"{what if before == 1 else 'the ' + expected[receiving.index(strange[0])]} and the signature's own "
            f"arguments "
            f"({sig.args_text}) shift to the parameters after it"
            + (" (into *args)" if spilled and task.varargs else ""),
            _errback_fix(task, before))


def _errback_fix(task: TaskDef, before: int) -> str:
    if task.bound:
        return (f"give {task.name} the failed task's id as its first parameter after self "
                f"({task.name}(self, task_id, ...)), or use .si(...) to pass only your own arguments")
    return (f"write it as {task.name}(request, exc, traceback, ...) to be called with the failure, or "
            f"{task.name}(task_id) to be sent the failed task's id; .si(...) passes only your own arguments")
