"""Rendering speed: DOT and Mermaid text for 100 / 500 / 2000-node plans,
and the time ``dot`` takes to lay out the SVG (the slow part); and the size
of the Mermaid text against Mermaid's own limits (500 edges, 50,000
characters), whole and ``--collapse``d.

The graphs are layered pipelines built from examples/chain/tasks.py: a hub
fans out to parallel chains of 1-6 tasks that fan back in, with an N-shaped
cross edge now and then that the canvas cannot express (so there are added
dependencies to draw). The target: a 500-node SVG in a few seconds.

    python bench/bench_render.py [--sizes 100,500,2000] [--svg-sizes 500]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.analysis import plan_canvas  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.graphfile import structure  # noqa: E402
from planner.planning import make_plan  # noqa: E402
from planner.render import mermaid_edge_count, mermaid_length, render_file, to_dot, to_mermaid  # noqa: E402


@functools.cache
def chain_tasks():
    """examples/chain/tasks.py under a private module name (loaded once: a
    second load would register its tasks again)."""
    spec = importlib.util.spec_from_file_location("_bench_chain_tasks", ROOT / "examples/chain/tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pipeline_graph(n: int, seed: int = 7) -> nx.DiGraph:
    """A layered fan-out/fan-in pipeline of exactly ``n`` nodes."""
    tasks, rng = chain_tasks(), random.Random(seed)
    graph = nx.DiGraph()
    counter = iter(range(n))

    def add(kind: str, name: str):
        signature = {"add": tasks.add.s(1, 2), "multiply": tasks.multiply.s(3), "log": tasks.log_done.si(name)}[kind]
        graph.add_node(name, task=signature)

    hub = f"n{next(counter)}"
    add("add", hub)
    while len(graph) < n:
        chains = []
        for _ in range(rng.randint(2, 5)):
            chain, last = [], hub
            for _ in range(rng.randint(1, 6)):
                if len(graph) >= n - 1:
                    break
                node = f"n{next(counter)}"
                add("multiply", node)
                graph.add_edge(last, node)
                chain.append(node)
                last = node
            if chain:
                chains.append(chain)
        long_chains = [c for c in chains if len(c) >= 2]
        if len(long_chains) >= 2 and rng.random() < 0.3:  # an N shape: not series-parallel
            graph.add_edge(long_chains[0][0], long_chains[1][1])
        if len(graph) >= n:
            break
        tails = [chain[-1] for chain in chains] or [hub]
        hub = f"n{next(counter)}"
        add("log" if rng.random() < 0.2 else "multiply", hub)
        graph.add_edges_from((tail, hub) for tail in tails)
    return graph


def canvas_plan(graph: nx.DiGraph):
    """The canvas plan, its added dependencies drawn too, even where its
    messages would be too big to send (``--strategy canvas`` refuses those)."""
    try:
        return make_plan(graph, "canvas")
    except PlannerError:
        return plan_canvas(structure(graph))


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--svg-sizes", default="500")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    svg_sizes = {int(s) for s in args.svg_sizes.split(",") if s}
    have_dot = shutil.which("dot") is not None
    print(f"{'nodes':>6} {'added':>6} {'clusters':>8} {'dot text':>9} {'mermaid':>9} {'svg':>9} {'svg --collapse':>15}"
          f" {'mmd edges':>10} {'mmd chars':>10} {'chars/node':>10} {'--collapse':>17}")
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            plan = canvas_plan(pipeline_graph(n))  # canvas: its added dependencies are drawn too
            dot_source = to_dot(plan)
            clusters = dot_source.count("subgraph cluster_")
            dot_s = timed(to_dot, plan)
            mermaid_s = timed(to_mermaid, plan)
            svg = collapsed = "-"
            if n in svg_sizes and have_dot:
                svg = f"{timed(render_file, plan, f'{folder}/plan.svg'):.2f} s"
                collapsed = f"{timed(render_file, plan, f'{folder}/plan.svg', collapse=True):.2f} s"
            whole, folded = to_mermaid(plan), to_mermaid(plan, collapse=True)
            print(f"{n:>6} {len(plan.added):>6} {clusters:>8} {dot_s * 1000:>7.1f}ms {mermaid_s * 1000:>7.1f}ms "
                  f"{svg:>9} {collapsed:>15} {mermaid_edge_count(whole):>10} {mermaid_length(whole):>10,} "
                  f"{mermaid_length(whole) / n:>10.1f} {mermaid_edge_count(folded):>5} / {mermaid_length(folded):>7,}")
    if not have_dot:
        print("(no SVG column: Graphviz's dot is not installed)")


if __name__ == "__main__":
    main()
