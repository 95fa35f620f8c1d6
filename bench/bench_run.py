"""What ``planner run`` costs on top of the work itself.

Starts its own redis-server and ``celery worker`` processes (prefork) and
prints one table, for the embedded default and for Redis:

- per-hop overhead: a chain of 50 and of 200 trivial tasks, seconds per hop
  (submission to the last result seen by the runner, divided by the steps);
- a 120-wide fan-out/fan-in of trivial tasks (one root, 120 members, one sink);
- makespan of a plan of sleep tasks against its critical path (the ideal
  with unlimited workers), ratio makespan ÷ critical path.

The figures come from ``planner.run.run_graph``, the runner the CLI uses:
they include submitting, the runner's polling of the result store (20 ms)
and the workers' own round trips, not the preflight checks.

    python bench/bench_run.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import servers  # noqa: E402  (tests/servers.py: redis-server and celery workers)

from planner.run import run_graph  # noqa: E402


def chain_graph(n: int) -> nx.DiGraph:
    from workload.tasks import step

    graph = nx.DiGraph()
    names = [f"s{i}" for i in range(n)]
    for name in names:
        graph.add_node(name, task=step.s(node=name))
    nx.add_path(graph, names)
    return graph


def fan_graph(width: int) -> nx.DiGraph:
    from workload.tasks import step

    graph = nx.DiGraph()
    graph.add_node("root", task=step.s(node="root"))
    graph.add_node("sink", task=step.s(node="sink"))
    for i in range(width):
        graph.add_node(f"m{i}", task=step.s(node=f"m{i}"))
        graph.add_edge("root", f"m{i}")
        graph.add_edge(f"m{i}", "sink")
    return graph


def sleep_graph(seed: int = 7, layers: int = 5, width: int = 4) -> tuple[nx.DiGraph, float]:
    """A layered DAG of sleep tasks (0.05–0.2 s); returns it and its critical path in seconds."""
    from workload.tasks import step

    rng = random.Random(seed)
    graph = nx.DiGraph()
    previous: list[str] = []
    for layer in range(layers):
        current = [f"L{layer}n{i}" for i in range(rng.randint(2, width))]
        for name in current:
            graph.add_node(name, cost=round(rng.uniform(0.05, 0.2), 3))
            for pred in rng.sample(previous, min(len(previous), rng.randint(1, 2))) if previous else ():
                graph.add_edge(pred, name)
        previous = current
    finish: dict[str, float] = {}
    for node in nx.topological_sort(graph):
        finish[node] = graph.nodes[node]["cost"] + max((finish[p] for p in graph.predecessors(node)), default=0.0)
    for node, attrs in graph.nodes(data=True):
        attrs["task"] = step.s(node=node, sleep=attrs.pop("cost"))
    return graph, max(finish.values())


def strategies() -> tuple[str, ...]:
    from planner import exact

    return ("canvas", "exact") if getattr(exact, "submit", None) else ("canvas",)


def measure(where: str, run, quick: bool) -> list[tuple]:
    run(chain_graph(5), "canvas")  # warm up: imports, connections, worker pools
    rows = []
    for strategy in strategies():
        for n in ((50,) if quick else (50, 200)):
            report = run(chain_graph(n), strategy)
            assert report.status == "SUCCESS", report.status
            rows.append((where, strategy, f"chain of {n}", f"{report.elapsed:.2f} s",
                         f"{report.elapsed / n * 1000:.1f} ms/hop"))
        report = run(fan_graph(120), strategy)
        assert report.status == "SUCCESS", report.status
        rows.append((where, strategy, "fan-out/fan-in 120", f"{report.elapsed:.2f} s",
                     f"{report.elapsed / 122 * 1000:.1f} ms/task"))
        graph, critical = sleep_graph()
        report = run(graph, strategy)
        assert report.status == "SUCCESS", report.status
        rows.append((where, strategy, f"sleep DAG, {graph.number_of_nodes()} nodes", f"{report.elapsed:.2f} s",
                     f"critical path {critical:.2f} s: ×{report.elapsed / critical:.2f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 50-step chain")
    args = parser.parse_args()

    rows = measure("embedded, 8 threads", lambda g, s: run_graph(g, local=True, strategy=s, timeout=300), args.quick)
    with servers.redis_server() as base:
        url = f"{base}/0"
        with servers.Workers("workload.tasks", url, url, count=2, concurrency=4):
            rows += measure("redis, 2 workers × 4", lambda g, s: run_graph(g, broker=url, backend=url, strategy=s, timeout=300),
                            args.quick)

    from rich.console import Console
    from rich.table import Table

    table = Table(title="planner run: overhead (trivial tasks) and makespan (sleep tasks)")
    for column in ("where", "strategy", "graph", "elapsed", "figure"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=max(Console().width, 110)).print(table)


if __name__ == "__main__":
    main()
