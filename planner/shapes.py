"""The canvas shapes Celery runs reliably, and the rewrites that get a plan
tree there. Every emitter (:mod:`planner.canvas`, :mod:`planner.source`)
builds its canvas from :func:`celery_safe`'s tree; ``docs/celery-canvas.md``
lists each shape Celery 5.x mishandles, with a minimal repro, what Celery
does on which backend, and the upstream issue.

The safe form is the flat one a person writes: ``chain(a, group(b, c), d)``
(Celery turns a group followed by more work into a chord itself), groups
whose members are tasks or chains, chains whose steps are tasks or groups.
Every rewrite keeps the tasks, the dependencies and what each task receives
(by Celery's own rules):

- ``chord_as_flat_chain``: a hand-built ``chord(header, body)`` becomes
  ``chain(header, *body)``, the normal form the rewrites below work on.
- ``nested_group_spliced``: a group directly in a group is spliced into it.
  Celery flattens nested groups anyway, and in a chord header their results
  then come back in completion order, not member order.
- ``single_member_group_unrolled``: a group of one is its member, as Celery
  runs it in a chain (``chain(a, group(b), c)`` hands ``c`` b's result, not
  a list).
- ``nested_chain_spliced``: a chain directly in a chain is spliced.
- ``group_after_group_as_chord``: in ``chain(..., g1, g2, rest...)`` the
  second group and what follows it are written ``chord(g2, chain(rest))``.
  Left to Celery, the rest runs once per member of ``g2`` (each gets one
  member's result instead of the list) on every backend.
- ``header_members_closed``: a member of a chord header that ends in a
  group (``chord([x, chain(a, group(b, c))], h)``) gets Celery's built-in
  ``celery.accumulate`` after that group, which hands on the group's list.
  Otherwise the header's result holds a nested group result that the
  chord's join must ``.get()`` from inside a task: on a threads pool (the
  embedded worker) another thread's join resets Celery's process-wide
  "join allowed" flag meanwhile, and the body fails with ``RuntimeError:
  Never call result.get() within a task!``.
- ``chord_in_group_wrapped_in_chain``: a group member that Celery runs as a
  chord (a chain that starts with a group: Celery's ``chain(group(a, b), c)``
  *is* ``chord([a, b], c)``) is written ``chain(chord(...))``, a chain of
  one (done with ``chord_headers_made_explicit``). A chord that is a direct member of a group reports its body's result
  to that group's id, which has no callback: where that group ends a chord
  header's member, the outer body is never sent (hangs on Redis and
  RabbitMQ, ``ChordError`` on the embedded worker; celery#4681, #8182).

- ``chord_headers_made_explicit``: last, every group followed by a step in
  a chain is written ``chord(group, step)`` — the chord Celery would make
  of it when the chain runs, made when the canvas is built. Left to the
  run, a chain inside a chord header whose group holds a chord crashes in
  Celery's own ``_strip_chord_header_links`` (``AttributeError: 'tuple'
  object has no attribute 'options'``) before anything is sent.

The result holds :class:`~planner.plan.Chord` steps (each with exactly
the step after its group as body), chains of one chord, and
:class:`Collect` steps: the emitter writes them as they are.

>>> from planner.plan import Chain, Chord, Group, Task
>>> celery_safe(Chain((Task("a"), Group((Task("b"), Task("c"))), Task("d"))))
Chain(steps=(Task(name='a', gather=None), Chord(header=Group(members=(Task(name='b', gather=None), Task(name='c', gather=None))), body=Task(name='d', gather=None))))
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Chain, Chord, Group, Step, children, walk


def celery_safe(step: Step) -> Step:
    """``step`` rewritten into the shapes Celery runs reliably (see the
    module docstring), in passes over the tree, children before parents (no
    recursion, so deep trees are fine). The last tree's rewrite is kept:
    planning, emission and the source ask for the same one."""
    if _last[0] is step:
        return _last[1]
    safe = step if _is_flat(step) else _bottom_up(step, _normal_form)
    needed = _needed(safe)
    if "header_members_closed" in needed:
        safe = header_members_closed(safe)
        needed = _needed(safe)  # a closed member may now have groups in a row followed by more
    for rewrite in (group_after_group_as_chord, chord_headers_made_explicit):
        if rewrite.__name__ in needed:
            safe = _bottom_up(safe, rewrite)
    _last[:] = [step, safe]
    return safe


def _needed(root: Step) -> set[str]:
    """The rewrites a flat tree needs (one walk; each pass rebuilds the tree)."""
    needed = set()
    for step in walk(root):
        if not isinstance(step, Chain):
            continue
        for before, after in zip(step.steps, step.steps[1:], strict=False):
            if isinstance(before, Group):
                needed.add("chord_headers_made_explicit")
                if isinstance(after, Group) and after is not step.steps[-1]:
                    needed.add("group_after_group_as_chord")
                if any(isinstance(m, Chain) and isinstance(m.steps[-1], Group) for m in before.members):
                    needed.add("header_members_closed")
    return needed


_last: list = [None, None]  # (tree, its rewrite)


def _bottom_up(root: Step, rewrite) -> Step:
    """Apply ``rewrite(step, parts)`` to every step, children first;
    ``parts`` are the step's children, already rewritten."""
    done: dict[int, Step] = {}
    for step in reversed(list(walk(root))):
        parts = [done[id(sub)] for sub in children(step)]
        done[id(step)] = rewrite(step, parts)
    return done[id(root)]


def _normal_form(step: Step, parts: list[Step]) -> Step:
    if isinstance(step, Chord):
        return chord_as_flat_chain(*parts)
    if isinstance(step, Chain):
        return nested_chain_spliced(parts)
    if isinstance(step, Group):
        return single_member_group_unrolled(nested_group_spliced(parts))
    return step


def _same(step: Step, parts: list[Step]) -> Step:
    """``step`` with its children replaced by ``parts``."""
    if isinstance(step, Chain):
        return Chain(tuple(parts))
    if isinstance(step, Group):
        return Group(tuple(parts))
    if isinstance(step, Chord):
        return Chord(*parts)
    return step


@dataclass(frozen=True)
class Collect:
    """Not a graph node: Celery's built-in ``celery.accumulate`` task with
    ``index=0``, which hands on the list it receives (every worker has it).
    Emitted only where :func:`header_members_closed` puts it."""

    name: str = "celery.accumulate"
    gather: None = None


def header_members_closed(root: Step) -> Step:
    """Every member of a chord header (a group followed by more work) that
    ends in a group gets a :class:`Collect` step after that group, so the
    header's results are plain values, never nested group results: the same
    input for the body, one extra message. The closed group is then a
    header too, so its own members are closed the same way."""
    in_header: set[int] = set()  # chains that are members of a chord header
    for step in walk(root):  # parents first: marks flow down
        if isinstance(step, Chain):
            last = len(step.steps) - 1
            for position, sub in enumerate(step.steps):
                if isinstance(sub, Group) and (position < last or id(step) in in_header):
                    in_header.update(id(m) for m in sub.members if isinstance(m, Chain))

    def close(step: Step, parts: list[Step]) -> Step:
        if isinstance(step, Chain) and id(step) in in_header and isinstance(parts[-1], Group):
            return Chain((*parts, Collect()))
        return _same(step, parts)

    return _bottom_up(root, close)


def group_after_group_as_chord(step: Step, parts: list[Step]) -> Step:
    """``chain(..., g1, g2, rest...)`` → ``chain(..., g1, chord(g2,
    chain(rest...)))``, from the right, so groups in a row nest one chord
    per group."""
    if not isinstance(step, Chain):
        return _same(step, parts)
    backwards: list[Step] = []  # the rewritten rest of the chain, last step first
    for position in range(len(parts) - 1, -1, -1):
        sub = parts[position]
        if isinstance(sub, Group) and position > 0 and isinstance(parts[position - 1], Group) and backwards:
            backwards = [Chord(sub, _sequence(backwards[::-1]))]
        else:
            backwards.append(sub)
    return Chain(tuple(backwards[::-1]))


def chord_headers_made_explicit(step: Step, parts: list[Step]) -> Step:
    """In a chain, each group followed by a step becomes ``chord(group,
    step)``; a group member that would then be a bare chord stays a chain
    of one (``chord_in_group_wrapped_in_chain``)."""
    if isinstance(step, Group):
        return Group(tuple(chord_in_group_wrapped_in_chain(m) for m in parts))
    if not isinstance(step, Chain):
        return _same(step, parts)
    steps: list[Step] = []
    for sub in parts:
        if steps and isinstance(steps[-1], Group):
            steps[-1] = Chord(steps[-1], sub)
        else:
            steps.append(sub)
    return Chain(tuple(steps))


def chord_in_group_wrapped_in_chain(member: Step) -> Step:
    """A chord that is a direct member of a group becomes a chain of one
    chord: Celery then builds it with the group id of the header it sits in."""
    return Chain((member,)) if isinstance(member, Chord) else member


def _sequence(steps: list[Step]) -> Step:
    return steps[0] if len(steps) == 1 else Chain(tuple(steps))


def chord_as_flat_chain(header: Step, body: Step) -> Step:
    """``chord(header, body)`` → ``chain(header, *body)``: Celery makes the
    chord itself, with the right group id however deep it sits."""
    return nested_chain_spliced([header, body])


def nested_chain_spliced(steps: list[Step]) -> Step:
    """A chain of ``steps`` with nested chains spliced in (one step: itself)."""
    flat: list[Step] = []
    for sub in steps:
        flat.extend(sub.steps if isinstance(sub, Chain) else (sub,))
    return flat[0] if len(flat) == 1 else Chain(tuple(flat))


def nested_group_spliced(members: list[Step]) -> Group:
    """A group of ``members`` with nested groups spliced in, in order."""
    flat: list[Step] = []
    for member in members:
        flat.extend(member.members if isinstance(member, Group) else (member,))
    return Group(tuple(flat))


def single_member_group_unrolled(group: Group) -> Step:
    """A group of one is its member, as Celery runs it."""
    return group.members[0] if len(group.members) == 1 else group


def _is_flat(step: Step) -> bool:
    for sub in walk(step):
        if isinstance(sub, Chord):
            return False
        if isinstance(sub, Chain) and (len(sub.steps) < 2 or any(isinstance(s, Chain) for s in sub.steps)):
            return False
        if isinstance(sub, Group) and (len(sub.members) < 2 or any(isinstance(m, Group) for m in sub.members)):
            return False
    return True
