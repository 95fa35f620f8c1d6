"""Diff speed (planner/diff.py): comparing two plans of 1,000 / 5,000 /
20,000 nodes, unchanged, with a tenth of the nodes changed, added and
removed, and with every node renamed — the worst case for telling renames
apart: all nodes of the same task and arguments, where only edges can
(and here cannot) pair them; and the DOT text of the diff's diagram. The
target: linear in the graph's size, under a second for 5,000 nodes; the
plans themselves are made beforehand (not timed: `bench_plan.py` times
planning, `bench_render.py` the layout).

    python bench/bench_diff.py [--sizes 1000,5000,20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import networkx as nx
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.diff import plan_diff  # noqa: E402
from planner.planning import make_plan, signatures  # noqa: E402
from planner.render import to_dot  # noqa: E402

app = Celery("bench_diff")


@app.task(name="bench_diff.step")
def step(*args):
    return 1


def layered(n: int, prefix: str = "n", same_task: bool = False, seed: int = 1) -> nx.DiGraph:
    """``n`` nodes, each after two of the twenty before it."""
    rng = random.Random(seed)
    graph = nx.DiGraph()
    names = [f"{prefix}{i}" for i in range(n)]
    for i, name in enumerate(names):
        graph.add_node(name, task=step.si() if same_task else step.si(i))
    for i in range(1, n):
        for j in rng.sample(range(max(0, i - 20), i), min(i, 2)):
            graph.add_edge(names[j], names[i])
    return graph


def edited(graph: nx.DiGraph, seed: int = 2) -> nx.DiGraph:
    """A tenth of the nodes with other arguments, a tenth removed, as many added."""
    rng = random.Random(seed)
    new = graph.copy()
    nodes = list(new)
    for name in rng.sample(nodes, len(nodes) // 10):
        new.nodes[name]["task"] = step.si("changed")
    for name in rng.sample(nodes[1:], len(nodes) // 10):
        new.remove_node(name)
    kept = list(new)
    for i in range(len(nodes) // 10):
        new.add_node(f"new{i}", task=step.si(f"new{i}"))
        new.add_edge(rng.choice(kept), f"new{i}")
    return new


def timed(old: nx.DiGraph, new: nx.DiGraph) -> tuple[float, float, object]:
    """Seconds to compare, seconds to write the diff's DOT, and the diff."""
    old_plan, new_plan = make_plan(old, "exact"), make_plan(new, "exact")
    started = time.perf_counter()
    found = plan_diff(old_plan, new_plan, signatures(old), signatures(new))
    compared = time.perf_counter()
    to_dot(new_plan, diff=found)
    return compared - started, time.perf_counter() - compared, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"{'nodes':>7}  {'case':<38} {'diff s':>7} {'DOT s':>6}  found")
    for n in sizes:
        graph = layered(n)
        cases = [
            ("unchanged", graph, graph),
            ("a tenth changed, removed, added", graph, edited(graph)),
            ("every node renamed", graph, layered(n, "m")),
            ("every node renamed, all the same task", layered(n, same_task=True),
             layered(n, "m", same_task=True)),
        ]
        for label, old, new in cases:
            seconds, dot_seconds, found = timed(old, new)
            summary = (f"{len(found.added_nodes)} added, {len(found.removed_nodes)} removed, "
                       f"{len(found.changed_nodes)} changed, {len(found.renamed_nodes)} renamed")
            print(f"{n:>7}  {label:<38} {seconds:>7.2f} {dot_seconds:>6.2f}  {summary}")


if __name__ == "__main__":
    main()
