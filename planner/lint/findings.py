"""What a lint finding is, the rules that produce them, and choosing rules
with ``--select`` / ``--ignore`` (codes or code prefixes, as ruff does).

>>> sorted(chosen_codes("PLN00", "PLN000,PLN001"))[:3]
['PLN000', 'PLN002', 'PLN003']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at ``path:line:column`` (both 1-based, as ruff prints)."""

    path: str
    line: int
    column: int
    code: str
    message: str
    fix: str = ""

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, order=True)
class Note:
    """Something lint could not check at ``path:line:column`` and says so.
    Not a finding: it does not change the exit code."""

    path: str
    line: int
    column: int
    message: str

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    level: str  # SARIF level: error, warning or note
    help: str


RULES: dict[str, Rule] = {rule.code: rule for rule in [
    Rule("PLN000", "syntax-error", "The file cannot be parsed", "error",
         "The file has a syntax error (or is not UTF-8), so none of its canvases can be checked."),
    Rule("PLN001", "independent-chain", "A fan-out written as a chain", "warning",
         "After its first step, the chain runs one task two or more times with .si() and different arguments, "
         "and no step receives another's result: the calls look independent. A group runs them in parallel. "
         "The rule assumes no call needs the side effects of the one before; keep the chain if it does."),
    Rule("PLN002", "task-arguments", "A step or call whose task cannot take its arguments", "error",
         "Celery calls a task with what the canvas passes (the upstream result first for .s() steps, one list "
         "after a group or as a chord body; the start arguments for the first steps) and then the signature's own "
         "arguments. When the task's parameters cannot take them (too many, an unknown keyword, a required "
         "parameter left without a value) the task fails with TypeError at run time."),
    Rule("PLN003", "sync-get-in-task", "Waiting for a result inside a task", "error",
         "Calling .get() on a result inside a task blocks a worker slot until another task finishes; with all "
         "slots waiting the pool deadlocks, and Celery refuses it at run time. Chain the work instead, or use a "
         "callback (link / chord)."),
    Rule("PLN004", "large-payload", "A large result is passed to the next step", "warning",
         "The task returns something big (a whole file, a huge literal) and the next step receives it through the "
         "broker and result backend. Store the data and pass a reference (path, key, id) instead."),
    Rule("PLN005", "no-failure-handling", "Multi-step workflow applied without an error callback", "note",
         "A chain or chord of three or more tasks is started without link_error / on_error; a failure in the "
         "middle stops the rest silently. Attach an errback with .on_error(...) or apply_async(link_error=...)."),
    Rule("PLN006", "canvas-of-one", "Chain or group of one signature", "warning",
         "A chain or group with a single signature adds a canvas around one task for nothing; use the signature "
         "directly."),
    Rule("PLN007", "empty-chord-header", "Chord with an empty header", "warning",
         "A chord whose header is empty runs its body at once with an empty list; if the header is built "
         "elsewhere, build it before the chord."),
    Rule("PLN008", "canvas-celery-mishandles", "A canvas shape Celery hangs on or runs wrongly", "error",
         "A chord that is a direct member of a group inside a chord header makes the outer chord hang (Redis, "
         "RabbitMQ), raise ChordError or drop results; a group that is a direct member of a chord header reaches "
         "the body reversed. Wrap the chord (or the group) in a one-element chain: it adds no task and no "
         "dependency."),
    Rule("PLN009", "errback-arguments", "An errback that cannot take what Celery passes errbacks", "error",
         "Celery calls an errback (link_error, on_error) in the worker as errback(request, exc, traceback, *own) "
         "when it is a plain function task whose remaining parameters take more than one argument; otherwise "
         "(bind=True, one parameter) it sends it as a task with the failed task's id first. An errback written for "
         "the other convention fails, or silently gets the task id where its own argument was meant."),
    Rule("PLN100", "invalid-graph", "The graph file breaks the graph contract", "error",
         "The graph file could not be loaded or validated (cycle, missing task, arity of a .s() node against its "
         "predecessors, non-JSON arguments, ...): planner plan/run would refuse it."),
    Rule("PLN101", "ordering-only-segment", "A linear segment of .si() nodes only", "note",
         "Every node of this linear segment is .si(): the edges order work without passing data. If the order is "
         "not needed, dropping the edges lets the tasks run in parallel."),
    Rule("PLN102", "large-result", "A node's result in the run report is large", "warning",
         "The last run report shows a result above the payload threshold; results travel through the result "
         "backend to every successor. Store the data and return a reference."),
]}

ALWAYS = {"PLN000"}  # a file that cannot be parsed is always reported, as ruff does


class UnknownCode(ValueError):
    """A --select / --ignore entry matches no rule."""


def _expand(spec: str | None) -> set[str] | None:
    if spec is None:
        return None
    codes: set[str] = set()
    for entry in (part.strip().upper() for part in spec.split(",")):
        if not entry:
            continue
        if entry == "ALL":
            codes |= set(RULES)
            continue
        matched = {code for code in RULES if code.startswith(entry)}
        if not matched:
            raise UnknownCode(f"unknown rule code '{entry}' (known: {', '.join(RULES)})")
        codes |= matched
    return codes


def chosen_codes(select: str | None = None, ignore: str | None = None) -> set[str]:
    """The codes to report: ``select`` (default all) minus ``ignore``;
    PLN000 is always kept. Raises :class:`UnknownCode`."""
    selected = _expand(select)
    ignored = _expand(ignore) or set()
    codes = (set(RULES) if selected is None else selected) - ignored
    return codes | ALWAYS
