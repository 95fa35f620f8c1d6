"""The rewrites of planner/shapes.py, on trees (fast; the proof that the
shapes run is tests/test_differential.py on real Celery)."""

from __future__ import annotations

import networkx as nx
from dags import random_dags, series_parallel_dags
from differential import risky_graphs
from hypothesis import HealthCheck, given, settings

from planner.analysis import plan_canvas
from planner.plan import Chain, Chord, Group, Task, leaves, walk
from planner.shapes import Collect, celery_safe


def tasks(*names):
    return tuple(Task(name) for name in names)


def check_safe(root) -> None:
    """What planner may hand Celery: no group or bare chord directly in a
    group, no chain with a group followed by a group and more, every group
    followed by a step is a chord with that step as body, and every chord
    header member that ends in a group is closed by a Collect."""
    for step in walk(root):
        if isinstance(step, Group):
            assert not any(isinstance(m, (Group, Chord)) for m in step.members), step
        if isinstance(step, Chain):
            assert not any(isinstance(s, Group) for s in step.steps[:-1]), step
            # a chord whose body is a group runs what follows it once per member
            assert not any(isinstance(s, Chord) and _ends_in_group(s.body) for s in step.steps[:-1]), step
        if isinstance(step, Chord):
            for member in step.header.members:
                assert not _ends_in_group(member), member


def _ends_in_group(step) -> bool:
    while isinstance(step, (Chain, Chord)):
        step = step.steps[-1] if isinstance(step, Chain) else step.body
    return isinstance(step, Group)


def test_a_hand_built_chord_in_a_group_in_a_header():
    # chord([chord([a, b], group(c, chord([d, e], f)))], h): the first hang.
    inner = Chord(Group(tasks("d", "e")), Task("f"))
    root = Chord(Group((Chord(Group(tasks("a", "b")), Group((Task("c"), inner))),)), Task("h"))
    safe = celery_safe(root)
    check_safe(safe)
    assert sorted(t.name for t in leaves(safe)) == list("abcdefh")


def test_groups_in_a_row_then_more_nest_as_chords():
    root = Chain((Group(tasks("a", "b")), Group(tasks("c", "d")), Group(tasks("e", "f")), Task("g")))
    safe = celery_safe(root)
    check_safe(safe)
    (outer,) = safe.steps
    assert outer.header == Group(tasks("a", "b")) and outer.body.header == Group(tasks("c", "d"))


def test_a_header_member_ending_in_a_group_is_closed():
    root = Chain((Group((Task("x"), Chain((Task("a"), Group(tasks("b", "c")))))), Task("h")))
    (chord,) = celery_safe(root).steps
    member = chord.header.members[1]
    assert member.steps[0] == Task("a") and isinstance(member.steps[1], Chord)
    assert isinstance(member.steps[1].body, Collect)


def test_nested_groups_are_spliced_and_groups_of_one_unrolled():
    root = Group((Group(tasks("a", "b")), Chain((Task("c"), Group(tasks("d",)))), Task("e")))
    assert celery_safe(root) == Group((Task("a"), Task("b"), Chain(tasks("c", "d")), Task("e")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=series_parallel_dags(max_nodes=50))
def test_every_planned_series_parallel_graph_is_emitted_safe(graph):
    check_safe(celery_safe(plan_canvas(nx.relabel_nodes(graph, str)).root))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=random_dags(max_nodes=40))
def test_every_planned_dag_is_emitted_safe(graph):
    check_safe(celery_safe(plan_canvas(nx.relabel_nodes(graph, str)).root))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=risky_graphs(min_nodes=5, max_nodes=60))
def test_every_graph_of_the_differential_harness_is_emitted_safe(graph):
    check_safe(celery_safe(plan_canvas(nx.relabel_nodes(graph, str)).root))
