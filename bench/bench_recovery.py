"""Losing a worker mid-run, with Celery's default worker settings.

Starts its own redis-server and two prefork workers of the suite's workload
app (``celery -A workload.tasks worker --include planner.tasks -c 2``: no
acks_late, no visibility_timeout), runs a 40-node DAG whose tasks sleep
0.3–1 s and record every execution, once without fault and once with one
worker's main process SIGKILLed a third of the way in, for both strategies.
Prints the time, lost nodes (not SUCCESS), nodes run twice and wrong inputs.
Target: killed ≤ fault-free + 15 s, 0 lost, 0 wrong inputs.

    python bench/bench_recovery.py [--seed 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import redis  # noqa: E402
import servers  # noqa: E402  (tests/servers.py: redis-server and celery workers)
from runhelp import recording_dag, wrong_inputs  # noqa: E402

from planner.run import run_graph  # noqa: E402


def run_once(url: str, strategy: str, kill: str | None, seed: int) -> dict:
    """One run on two fresh workers; ``kill``: None, "main" (SIGKILL the
    main process of the worker running the most nodes) or "child"."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    graph = recording_dag(url, seed=seed)
    group = servers.Workers("workload.tasks", url, url, count=2, concurrency=2).start()
    killed: list[str] = []

    def on_progress(progress):
        if kill and not killed and progress.done >= len(graph) // 3:
            victim = group.processes[0]
            if kill == "main":
                os.kill(victim.pid, signal.SIGKILL)
            else:
                import subprocess

                children = subprocess.run(["pgrep", "-P", str(victim.pid)], capture_output=True, text=True)
                os.kill(int(children.stdout.split()[0]), signal.SIGKILL)
            killed.append(group.names[0])

    try:
        started = time.monotonic()
        report = run_graph(graph, broker=url, backend=url, strategy=strategy, timeout=180, on_progress=on_progress)
        elapsed = time.monotonic() - started
    finally:
        group.stop()
        # a pool child orphaned by the kill ends when its task does
        time.sleep(1.5)
    runs = [value.decode() for value in client.lrange("tally", 0, -1)]
    return {"status": report.status, "time": elapsed, "lost": sum(n.state != "SUCCESS" for n in report.nodes.values()),
            "twice": sum(runs.count(name) > 1 for name in graph), "wrong": len(wrong_inputs(graph, report)),
            "notes": report.warnings}


def resume_once(url: str, seed: int, cut: float) -> dict:
    """A run stopped by --timeout after ``cut`` seconds, then resumed from
    its partial report: how many nodes were reused, the time, the counts."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    graph = recording_dag(url, seed=seed)
    group = servers.Workers("workload.tasks", url, url, count=2, concurrency=2).start()
    try:
        first = run_graph(graph, broker=url, backend=url, strategy="exact", timeout=cut)
        time.sleep(1.5)  # what was running when it timed out ends
        client.delete("tally")
        started = time.monotonic()
        second = run_graph(graph, broker=url, backend=url, timeout=180, resume=first.as_json())
        elapsed = time.monotonic() - started
    finally:
        group.stop()
    runs = [value.decode() for value in client.lrange("tally", 0, -1)]
    reused = sum(node.reused for node in second.nodes.values())
    return {"status": second.status, "time": elapsed, "first": first.status, "reused": reused, "ran": len(runs),
            "lost": sum(n.state != "SUCCESS" for n in second.nodes.values()),
            "twice": sum(runs.count(name) > 1 for name in graph), "wrong": len(wrong_inputs(graph, second))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--strategies", default="exact,canvas")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = []
    with servers.redis_server() as base:
        url = f"{base}/0"
        for strategy in args.strategies.split(","):
            clean = run_once(url, strategy, None, args.seed)
            rows.append((strategy, "none", clean))
            killed = run_once(url, strategy, "main", args.seed)
            rows.append((strategy, "SIGKILL main process", killed))
            killed["over"] = killed["time"] - clean["time"]
    table = Table(title=f"40-node DAG, sleeps 0.3–1 s, 2 workers -c 2, default settings (load {os.getloadavg()[0]:.1f})")
    for column in ("strategy", "fault", "status", "time", "vs fault-free", "not SUCCESS", "ran twice", "wrong inputs"):
        table.add_column(column)
    for strategy, fault, row in rows:
        over = f"+{row['over']:.1f} s" if "over" in row else ""
        table.add_row(strategy, fault, row["status"], f"{row['time']:.1f} s", over, str(row["lost"]),
                      str(row["twice"]), str(row["wrong"]))
    Console(width=max(Console().width, 120)).print(table)
    for strategy, fault, row in rows:
        for note in row["notes"]:
            print(f"{strategy}, {fault}: {note}")
    with servers.redis_server() as base:
        clean = next(row for strategy, fault, row in rows if fault == "none")
        resumed = resume_once(f"{base}/0", args.seed, cut=clean["time"] / 2)
    table = Table(title="the same DAG stopped by --timeout at half its fault-free time, then run --resume")
    for column in ("first run", "resumed", "time", "reused", "ran", "not SUCCESS", "ran twice", "wrong inputs"):
        table.add_column(column)
    table.add_row(resumed["first"], resumed["status"], f"{resumed['time']:.1f} s", str(resumed["reused"]),
                  str(resumed["ran"]), str(resumed["lost"]), str(resumed["twice"]), str(resumed["wrong"]))
    Console(width=max(Console().width, 120)).print(table)


if __name__ == "__main__":
    main()
