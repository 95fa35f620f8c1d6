"""planner's cost per node on a real cluster, against Celery's own.

Starts a redis-server and two ``celery worker`` processes (prefork, as the
README starts them, ``--include planner.tasks``) and runs the same trivial
task N times (default 100,000) twice on them:

- **Celery's own group**: ``group(add.si(1, 1) x N).apply_async()`` from this
  process, timed from the first send to the last result in the backend;
- **planner**: ``planner run`` (the CLI, a subprocess, as a user runs it) on a
  fan-out/fan-in graph of the same tasks (one root, N members, one sink);
  ``auto`` picks exact dispatch (a chord over 1000 tasks). Timed twice: the
  run (the report's ``elapsed``: first send to last node seen) and the whole
  command (start-up, loading and planning the 100k-node graph file,
  preflight, the run, the report).

It prints tasks/s for both and planner's per-node overhead as a share of
Celery's own per-task cost: (planner run - Celery group) / Celery group.
The target: at most 20%.

    python bench/bench_throughput.py [--size 100000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import servers  # noqa: E402  (tests/servers.py: redis-server and celery workers)

GRAPH = """
import networkx as nx
from workload.tasks import add

graph = nx.DiGraph()
graph.add_node("root", task=add.si(1, 1))
graph.add_node("sink", task=add.si(0, 0))
members = [f"m{{i}}" for i in range({size})]
graph.add_nodes_from(members, task=add.si(1, 1))
graph.add_edges_from(("root", m) for m in members)
graph.add_edges_from((m, "sink") for m in members)
"""


def celery_group(url: str, size: int, timeout: float) -> float:
    """Seconds from the first send of a group of ``size`` tasks to the last
    result stored."""
    from celery import group
    from workload.tasks import add, app

    app.conf.update(broker_url=url, result_backend=url)
    backend = app.backend
    started = time.perf_counter()
    result = group(add.si(1, 1) for _ in range(size)).apply_async()
    waiting = [child.id for child in result.results]
    deadline = started + timeout
    while waiting:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"Celery's group: {len(waiting)} of {size} results missing after {timeout:.0f} s")
        still = []
        for first in range(0, len(waiting), 5000):
            batch = waiting[first:first + 5000]
            values = backend.mget([backend.get_key_for_task(task_id) for task_id in batch])
            still += [task_id for task_id, value in zip(batch, values, strict=True) if value is None]
        waiting = still
        if waiting:
            time.sleep(0.05)
    return time.perf_counter() - started


def planner_run(url: str, size: int, timeout: float) -> tuple[float, float, float]:
    """The run's elapsed seconds, the whole command's and the command's CPU
    seconds, for ``planner run`` on a fan-out/fan-in of ``size`` members."""
    with tempfile.TemporaryDirectory() as folder:
        graph_file = Path(folder) / "fan.py"
        graph_file.write_text(GRAPH.format(size=size))
        report_file = Path(folder) / "report.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
        started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-m", "planner", "run", str(graph_file), "--broker", url,
                               "--backend", url, "--quiet", "--json", str(report_file),
                               "--timeout", str(timeout)], env=env, capture_output=True, text=True)
        command = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if done.returncode != 0:
            raise RuntimeError(f"planner run exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        report = json.loads(report_file.read_text())
    return float(report["elapsed"]), command, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="tasks (default 100,000)")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker (default 2)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    with servers.redis_server() as base:
        url = f"{base}/0"
        with servers.Workers("workload.tasks", url, url, count=2, concurrency=args.concurrency):
            celery_group(url, 200, 60)  # warm up: pools, connections
            group_seconds = celery_group(url, args.size, args.timeout)
            run_seconds, command_seconds, command_cpu = planner_run(url, args.size, args.timeout)

    from rich.console import Console
    from rich.table import Table

    nodes = args.size + 2
    table = Table(title=f"{args.size:,} trivial tasks on Redis, 2 prefork workers × {args.concurrency} "
                        f"(load {os.getloadavg()[0]:.1f})")
    for column in ("what", "seconds", "tasks/s", "µs per task"):
        table.add_column(column)
    table.add_row("Celery's group", f"{group_seconds:.1f}", f"{args.size / group_seconds:,.0f}",
                  f"{group_seconds / args.size * 1e6:,.0f}")
    table.add_row("planner run: the run", f"{run_seconds:.1f}", f"{nodes / run_seconds:,.0f}",
                  f"{run_seconds / nodes * 1e6:,.0f}")
    table.add_row("planner run: the whole command", f"{command_seconds:.1f}", f"{nodes / command_seconds:,.0f}",
                  f"{command_seconds / nodes * 1e6:,.0f}")
    Console(width=max(Console().width, 100)).print(table)
    print(f"the planner command used {command_cpu:.1f} s of CPU (it shares the machine with the workers)")
    overhead = (run_seconds / nodes - group_seconds / args.size) / (group_seconds / args.size)
    print(f"planner's per-node overhead: {overhead:+.0%} of Celery's own per-task cost (target: at most +20%)")


if __name__ == "__main__":
    main()
