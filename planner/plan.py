"""The plan tree: the small intermediate representation between analysis,
emission, rendering and running.

A plan is a tree of four kinds of step, mirroring Celery's canvas:

- ``Task(name)``: one graph node.
- ``Chain(steps)``: run steps one after another; each step receives the
  previous step's result.
- ``Group(members)``: run members in parallel; the result is the list of the
  members' results, in member order.
- ``Chord(header, body)``: run the header group, then the body, which
  receives the header's list of results.

Plans are plain frozen data: nothing here knows Celery.

>>> plan_tree = Chain((Task("add"), Task("multiply")))
>>> [leaf.name for leaf in leaves(plan_tree)]
['add', 'multiply']
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
