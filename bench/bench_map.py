"""A map node over 10,000 items against the hand-written Celery "dmap" task,
on the same Redis and the same two prefork workers.

- ``planner exact``: ``numbers → square (map=True)`` as ``auto`` runs it:
  a ``planner.exact.map`` message reads the list from the result backend
  and sends one message per item; item completions are counted in Redis;
  the last one stores the list under the map node's task id.
- ``planner canvas``: the same graph with ``--strategy canvas``: the map
  node is ``planner.map`` (a group of the items, collected by a chord).
- ``Celery dmap``: ``chain(numbers.si(n), dmap.s(square.s()))`` with the
  usual hand-written task (tests/workload/tasks.py: a group of the item
  signatures built in the task, ``self.replace`` makes it a chord that
  collects the results).

Each row: seconds from sending to the list of results being stored, and
item tasks per second; the best of ``--repeat`` runs.

    python bench/bench_map.py [--items 10000] [--repeat 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import servers  # noqa: E402  (tests/servers.py: redis-server and celery workers)
from celery import chain, uuid  # noqa: E402

from planner.embedded import forget_connections  # noqa: E402
from planner.planning import make_plan, signatures  # noqa: E402
from planner.submission import submit  # noqa: E402

TIMEOUT = 600.0


def map_graph(count: int) -> nx.DiGraph:
    from workload.tasks import numbers, square

    graph = nx.DiGraph()
    graph.add_node("numbers", task=numbers.si(count))
    graph.add_node("square", task=square.s(), map=True)
    graph.add_edge("numbers", "square")
    return graph


def wait_for(app, task_id: str, count: int) -> None:
    """Until ``task_id`` holds the list of ``count`` squares."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        meta = app.backend.get_task_meta(task_id)
        if meta.get("status") == "SUCCESS":
            result = meta["result"]
            assert result == [n * n for n in range(count)], "wrong result"
            return
        if meta.get("status") == "FAILURE":
            raise RuntimeError(f"failed: {meta.get('result')}")
        time.sleep(0.02)
    raise RuntimeError(f"not finished in {TIMEOUT:.0f} s")


def planner_run(app, count: int, strategy: str) -> float:
    graph = map_graph(count)
    plan = make_plan(graph, strategy)
    task_ids = {name: uuid() for name in plan.graph}
    start = time.monotonic()
    submit(plan, signatures(graph), app, task_ids)
    wait_for(app, task_ids["square"], count)
    return time.monotonic() - start


def celery_dmap(app, count: int) -> float:
    from workload.tasks import dmap, numbers, square

    canvas = chain(numbers.si(count), dmap.s(square.s()))
    start = time.monotonic()
    result = canvas.apply_async()
    wait_for(app, result.id, count)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per row (the best is shown)")
    parser.add_argument("--quick", action="store_true", help="1,000 items, one run each (a smoke run)")
    options = parser.parse_args()
    count, repeat = (1000, 1) if options.quick else (options.items, options.repeat)

    from workload.tasks import app

    rows = {"planner exact (auto)": [], "planner canvas (planner.map)": [], "Celery dmap (hand-written)": []}
    with servers.redis_server() as base:
        url = f"{base}/0"
        with servers.Workers("workload.tasks", url, url, count=2, concurrency=2):
            forget_connections(app)
            app.conf.update(broker_url=url, result_backend=url, broker_transport_options={})
            planner_run(app, 100, "auto")  # warm the workers' connections and imports
            celery_dmap(app, 100)
            for attempt in range(repeat):
                for name, run in (("planner exact (auto)", lambda: planner_run(app, count, "auto")),
                                  ("planner canvas (planner.map)", lambda: planner_run(app, count, "canvas")),
                                  ("Celery dmap (hand-written)", lambda: celery_dmap(app, count))):
                    seconds = run()
                    rows[name].append(seconds)
                    print(f"  run {attempt + 1}: {name}: {seconds:.2f} s", flush=True)
    load = os.getloadavg()
    print(f"\nmap over {count:,} items (square), Redis, two prefork workers -c 2; best of {repeat}; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'how':30} {'seconds':>8} {'item tasks/s':>13} {'vs dmap':>8}")
    dmap_best = min(rows["Celery dmap (hand-written)"])
    for name, times in rows.items():
        best = min(times)
        print(f"{name:30} {best:8.2f} {count / best:13.0f} {dmap_best / best:7.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
