"""The plan tree: the small intermediate representation between analysis,
emission, rendering and running.

A plan is a tree of four kinds of step, mirroring Celery's canvas:

- ``Task(name)``: one graph node.
- ``Chain(steps)``: run steps one after another; each step receives the
  previous step's result. Steps are tasks and groups, flat, as a person
  writes ``chain(a, group(b, c), d, e, group(f, g), h)``: a group followed
  by more work is a chord header (Celery makes it one), so the tree's depth
  follows nesting only, never the graph's length.
- ``Group(members)``: run members (tasks and chains) in parallel; the result
  is the list of the members' results, in member order.
- ``Chord(header, body)``: run the header group, then the body, which
  receives the header's list of results. Analysis never builds one (it
  writes the chain ``(header, body...)``); emission turns a hand-built one
  into that chain (:mod:`planner.shapes`).

Plans are plain frozen data: nothing here knows Celery.

>>> plan_tree = Chain((Task("add"), Group((Task("double"), Task("square"))), Task("sum")))
>>> [leaf.name for leaf in leaves(plan_tree)]
['add', 'double', 'square', 'sum']
>>> shape_counts(plan_tree)
{'chain': 1, 'group': 0, 'chord': 1, 'task': 4}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

import networkx as nx


@dataclass(frozen=True)
class Task:
    """One graph node.

    ``gather`` says where the node's input comes from:

    - ``None``: from the canvas, which analysis proved is exactly the node's
      contract input (or the node is immutable and takes nothing);
    - ``()``: nothing; the canvas would hand it something it must not get,
      so it is sent immutable;
    - ``(p,)`` / ``(p1, p2, ...)``: fetched from the result store just before
      the node runs (one result, or the list in predecessor order), because
      the canvas cannot deliver it.
    """

    name: str
    gather: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Chain:
    steps: tuple["Step", ...]


@dataclass(frozen=True)
class Group:
    members: tuple["Step", ...]


@dataclass(frozen=True)
class Chord:
    header: Group
    body: "Step"


Step = Union[Task, Chain, Group, Chord]


@dataclass
class Plan:
    """A planned graph.

    ``graph`` is the structure graph (``str`` node names; attributes
    ``immutable`` and ``cost``); ``root`` the plan tree; ``added`` the
    dependencies the plan imposes that the graph does not have (empty when the
    plan is exact); ``strategy`` how it is meant to run (``canvas`` or
    ``exact``) and ``reason`` why that strategy was chosen.
    """

    graph: nx.DiGraph
    root: Step
    added: tuple[tuple[str, str], ...] = ()
    strategy: str = "canvas"
    reason: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return not self.added

    def dependencies(self) -> nx.DiGraph:
        """The ordering the plan enforces: the graph's edges plus ``added``."""
        deps = nx.DiGraph()
        deps.add_nodes_from(self.graph)
        deps.add_edges_from(self.graph.edges)
        deps.add_edges_from(self.added)
        return deps


def children(step: Step) -> tuple[Step, ...]:
    """The direct sub-steps of ``step``, in canvas order."""
    if isinstance(step, Chain):
        return step.steps
    if isinstance(step, Group):
        return step.members
    if isinstance(step, Chord):
        return (step.header, step.body)
    return ()


def walk(step: Step) -> Iterator[Step]:
    """Every step of the tree, parents before children (iterative, so deep
    plans do not hit the recursion limit)."""
    stack = [step]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def leaves(step: Step) -> Iterator[Task]:
    """The tasks of the tree in canvas order.

    >>> [t.name for t in leaves(Group((Task("a"), Task("b"))))]
    ['a', 'b']
    """
    return (s for s in walk(step) if isinstance(s, Task))


def kind(step: Step) -> str:
    """``'task'``, ``'chain'``, ``'group'`` or ``'chord'``."""
    return type(step).__name__.lower()


def shape_counts(root: Step) -> dict[str, int]:
    """How many chains, groups, chords and tasks the canvas has, as Celery
    runs it: a group followed by more work in its chain counts as a chord."""
    counts = {"chain": 0, "group": 0, "chord": 0, "task": 0}
    headers = set()
    for step in walk(root):
        if isinstance(step, Chain):
            headers.update(id(s) for s in step.steps[:-1] if isinstance(s, Group))
        counts["chord" if id(step) in headers else kind(step)] += 1
    return counts


def nesting_depth(root: Step) -> int:
    """How deep the tree nests (a lone task: 0; ``chain(a, group(b, c))``: 2)."""
    deepest, stack = 0, [(root, 0)]
    while stack:
        step, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((sub, depth + 1) for sub in children(step))
    return deepest
