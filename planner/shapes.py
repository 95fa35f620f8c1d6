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
- ``chord_in_group_wrapped_in_chain``: a group member that Celery runs as a
  chord (a chain that starts with a group: Celery's ``chain(group(a, b), c)``
  *is* ``chord([a, b], c)``) is written ``chain(chord(...))``, a chain of
  one. A chord that is a direct member of a group reports its body's result
  to that group's id, which has no callback: where that group ends a chord
  header's member, the outer body is never sent (hangs on Redis and
  RabbitMQ, ``ChordError`` on the embedded worker; celery#4681, #8182).

The result may hold :class:`~planner.plan.Chord` steps again, and chains of
one step: the emitter writes them as they are.

>>> from planner.plan import Chain, Chord, Group, Task
>>> celery_safe(Chord(Group((Task("a"), Task("b"))), Chain((Task("c"), Task("d")))))
Chain(steps=(Group(members=(Task(name='a', gather=None), Task(name='b', gather=None))), Task(name='c', gather=None), Task(name='d', gather=None)))
"""

from __future__ import annotations

from .plan import Chain, Chord, Group, Step, Task, walk


def celery_safe(step: Step) -> Step:
    """``step`` rewritten into the shapes Celery runs reliably (see the
    module docstring). A tree from :mod:`planner.analysis` is already in
    that form and comes back as it is. Iterative, so deep trees are fine."""
    if not _is_flat(step):
        done: dict[int, Step] = {}
        for sub in reversed(list(walk(step))):  # children before parents
            done[id(sub)] = _rewrite(sub, done)
        step = done[id(step)]
    if any(_groups_in_a_row(sub) or _leads_with_group_in_group(sub) for sub in walk(step)):
        done = {}
        for sub in reversed(list(walk(step))):  # children before parents
            if isinstance(sub, Chain):
                done[id(sub)] = group_after_group_as_chord(sub, done)
            elif isinstance(sub, Group):
                done[id(sub)] = Group(tuple(chord_in_group_wrapped_in_chain(done[id(m)]) for m in sub.members))
            elif isinstance(sub, Chord):
                done[id(sub)] = Chord(done[id(sub.header)], done[id(sub.body)])
            else:
                done[id(sub)] = sub
        step = done[id(step)]
    return step


def _rewrite(step: Step, done: dict[int, Step]) -> Step:
    if isinstance(step, Task):
        return step
    if isinstance(step, Chord):
        return chord_as_flat_chain(done[id(step.header)], done[id(step.body)])
    if isinstance(step, Chain):
        return nested_chain_spliced([done[id(s)] for s in step.steps])
    return single_member_group_unrolled(nested_group_spliced([done[id(m)] for m in step.members]))


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


def group_after_group_as_chord(chain: Chain, done: dict[int, Step]) -> Step:
    """``chain(..., g1, g2, rest...)`` → ``chain(..., g1, chord(g2,
    chain(rest...)))``, from the right, so groups in a row nest one chord
    per group (``done`` holds the chain's steps already rewritten)."""
    steps = [done[id(s)] for s in chain.steps]
    backwards: list[Step] = []  # the rewritten rest of the chain, last step first
    for position in range(len(steps) - 1, -1, -1):
        step = steps[position]
        follows_group = position > 0 and isinstance(steps[position - 1], Group)
        if isinstance(step, Group) and follows_group and backwards:
            backwards = [Chord(step, _sequence(backwards[::-1]))]
        else:
            backwards.append(step)
    return _sequence(backwards[::-1])


def _sequence(steps: list[Step]) -> Step:
    return steps[0] if len(steps) == 1 else Chain(tuple(steps))


def chord_in_group_wrapped_in_chain(member: Step) -> Step:
    """A group member that Celery would run as a chord (a chain that starts
    with a group; a chord) becomes a chain of one chord: Celery then builds
    the chord with the group id of the header it sits in."""
    if isinstance(member, Chain) and isinstance(member.steps[0], Group):
        rest = member.steps[1:]
        return Chain((Chord(member.steps[0], rest[0] if len(rest) == 1 else Chain(rest)),))
    if isinstance(member, Chord):
        return Chain((member,))
    return member


def _leads_with_group_in_group(step: Step) -> bool:
    return isinstance(step, Group) and any(
        isinstance(m, Chain) and isinstance(m.steps[0], Group) or isinstance(m, Chord) for m in step.members)


def _groups_in_a_row(step: Step) -> bool:
    return isinstance(step, Chain) and any(
        isinstance(a, Group) and isinstance(b, Group) for a, b in zip(step.steps, step.steps[1:-1], strict=False))


def _is_flat(step: Step) -> bool:
    for sub in walk(step):
        if isinstance(sub, Chord):
            return False
        if isinstance(sub, Chain) and (len(sub.steps) < 2 or any(isinstance(s, Chain) for s in sub.steps)):
            return False
        if isinstance(sub, Group) and (len(sub.members) < 2 or any(isinstance(m, Group) for m in sub.members)):
            return False
    return True
