"""Planning speed: does planning grow near-linearly?

For 1k / 10k / 100k-node graphs (series-parallel, random sparse DAG, long
chain) it times importing the graph file, validating it, a topological sort,
and planning (structure + canvas analysis), each the best of 3 runs (one at
100k), and prints the ratio plan ÷ (import + toposort). The target: at most
~3 at 20k nodes.

    python bench/bench_plan.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.analysis import plan_canvas  # noqa: E402
from planner.graphfile import _load_module_attribute, structure, validate  # noqa: E402

TASKS = """
from celery import Celery
app = Celery("bench")

@app.task
def work(*upstream, node):
    return node
"""

GRAPH = """
import random
import networkx as nx
from tasks import work

N = {n}
SHAPE = {shape!r}
rng = random.Random(7)
graph = nx.DiGraph()
if SHAPE == "chain":
    edges = [(i, i + 1) for i in range(N - 1)]
elif SHAPE == "random":
    # sparse random DAG: each node draws ~2 predecessors among the previous 50
    edges = [(rng.randrange(max(0, j - 50), j), j) for j in range(1, N) for _ in range(2)]
else:
    # series-parallel: stages of fan-out/fan-in diamonds of varying width
    edges, previous, node = [], [0], 1
    while node < N:
        width = rng.randint(1, 8)
        stage = list(range(node, min(N, node + width)))
        node += len(stage)
        edges += [(p, s) for p in previous for s in stage]
        previous = stage
        if len(previous) > 1 and node < N:
            edges += [(p, node) for p in previous]
            previous, node = [node], node + 1
for i in range(N):
    graph.add_node(i, task=work.s(node=str(i)))
graph.add_edges_from(edges)
"""


def best_of(repeats: int, action) -> tuple[float, object]:
    """The fastest of ``repeats`` timed calls (and the last call's value):
    the least disturbed by the collector and the machine's other work."""
    best, value = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        value = action()
        best = min(best, time.perf_counter() - start)
    return best, value


def measure(folder: Path, n: int, shape: str) -> dict:
    path = folder / f"graph_{shape}_{n}.py"
    path.write_text(textwrap.dedent(GRAPH.format(n=n, shape=shape)))
    repeats = 3 if n < 100_000 else 1
    load, graph = best_of(repeats, lambda: _load_module_attribute(path, "graph"))
    topo, _ = best_of(repeats, lambda: list(nx.topological_sort(graph)))
    valid, _ = best_of(repeats, lambda: validate(graph, str(path)))
    plan_time, plan = best_of(repeats, lambda: plan_canvas(structure(graph)))
    return {"shape": shape, "nodes": n, "edges": graph.number_of_edges(), "import": load, "toposort": topo,
            "validate": valid, "plan": plan_time, "ratio": plan_time / (load + topo), "added": len(plan.added)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,20000,100000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="planner-bench-"))
    (folder / "tasks.py").write_text(TASKS)
    sys.path.insert(0, str(folder))
    print(f"{'shape':<8}{'nodes':>8}{'edges':>8}{'import s':>10}{'topo s':>9}{'valid. s':>10}{'plan s':>9}"
          f"{'plan/(imp+topo)':>17}{'added':>8}")
    for shape in ("sp", "random", "chain"):
        for n in sizes:
            row = measure(folder, n, shape)
            print(f"{row['shape']:<8}{row['nodes']:>8}{row['edges']:>8}{row['import']:>10.3f}{row['toposort']:>9.3f}"
                  f"{row['validate']:>10.3f}{row['plan']:>9.3f}{row['ratio']:>17.2f}{row['added']:>8}", flush=True)


if __name__ == "__main__":
    main()
