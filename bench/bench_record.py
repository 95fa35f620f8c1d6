"""The run record's cost: what every run pays at its start to be followed by
id (``planner status``, ``planner.attach``), and what attaching pays.

For fork-join pipelines of 5k / 20k / 100k nodes it times building the
record's JSON (``RunRecord.to_json``, at the start of every run), reading
it back (``RunRecord.from_json``, at each attach) and, on a private
``redis-server`` when one is installed, storing and loading it through
Celery's Redis backend (``record.store`` / ``record.load``), best of 3; and
the record's size. The figure to compare: a node costs Celery a few
milliseconds to run; the record should cost microseconds per node.

    python bench/bench_record.py [--sizes 5000,20000,100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from planner.planning import plan_structure  # noqa: E402
from planner.record import RunRecord, load, store  # noqa: E402


def fork_join(count: int, width: int = 50) -> nx.DiGraph:
    """Stages of ``width`` parallel nodes between joins, ``count`` nodes in all."""
    graph = nx.DiGraph()
    attributes = {"immutable": False, "cost": 1.0, "label": "tasks.step()"}
    previous, made = "join0", 1
    graph.add_node(previous, **attributes)
    while made < count:
        stage = [f"s{made + i}" for i in range(min(width, count - made - 1) or 1)]
        join = f"join{made + len(stage)}"
        for name in stage:
            graph.add_node(name, **attributes)
            graph.add_edge(previous, name)
        graph.add_node(join, **attributes)
        for name in stage:
            graph.add_edge(name, join)
        previous, made = join, made + len(stage) + 1
    return graph


def best(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,100000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    app, server = None, None
    try:
        from servers import redis_server, redis_server_binary

        if redis_server_binary():
            from celery import Celery

            server = redis_server()
            url = f"{server.__enter__()}/0"
            app = Celery("bench-record", broker=url, backend=url, set_as_current=False)
    except Exception as error:  # the table without the Redis columns
        print(f"(no redis-server: {error})")
    print(f"{'nodes':>8} {'to_json':>9} {'from_json':>10} {'store':>8} {'load':>8} {'size':>8} {'µs/node':>8}")
    try:
        for size in sizes:
            plan = plan_structure(fork_join(size), "exact", {})
            record = RunRecord("bench", {name: f"{i:036d}" for i, name in enumerate(plan.graph)}, plan, time.time())
            text = record.to_json()
            to_json = best(record.to_json)
            from_json = best(lambda text=text: RunRecord.from_json(text))
            stored = loaded = float("nan")
            if app is not None:
                stored = best(lambda record=record: store(app, record))
                loaded = best(lambda: load(app, "bench"))
            per_node = (stored if app is not None else to_json) / size * 1e6
            print(f"{size:>8} {to_json:>8.3f}s {from_json:>9.3f}s {stored:>7.3f}s {loaded:>7.3f}s "
                  f"{len(text) / 1e6:>6.1f}MB {per_node:>8.1f}")
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    print("store (to_json included): what a run's start pays; load (from_json included): what an attach pays")


if __name__ == "__main__":
    main()
