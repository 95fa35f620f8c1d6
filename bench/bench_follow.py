"""What following a run costs as it grows: a fork-join pipeline (a task fans
out to 3 tasks that join into the next, again and again) of 5,000 and of
20,000 trivial nodes, run end to end by the CLI (``planner run GRAPH
--quiet --json``) on the embedded worker. The follower reads the run's
journal (planner.journal), so its cost per node does not grow with the run:
target 20k ≤ 4.5 × the 5k time.

    python bench/bench_follow.py [--sizes 5000,20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GRAPH = '''
import networkx as nx
from workload.tasks import step


def graph(nodes: int = 5000):
    """A fork-join pipeline of ``nodes`` trivial steps."""
    edges, previous, node = [], 0, 1
    while node + 3 < nodes:
        stage, join = [node, node + 1, node + 2], node + 3
        edges += [(previous, s) for s in stage] + [(s, join) for s in stage]
        previous, node = join, node + 4
    edges += [(previous, extra) for extra in range(node, nodes)]
    dag = nx.DiGraph()
    for index in range(nodes):
        dag.add_node(f"n{index}", task=step.s(node=f"n{index}"))
    dag.add_edges_from((f"n{u}", f"n{v}") for u, v in edges)
    return dag
'''


def run(path: Path, nodes: int) -> tuple[float, dict]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    report = path.parent / f"report-{nodes}.json"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "planner", "run", str(path), "--local", "--quiet",
                           "--param", f"nodes={nodes}", "--json", str(report)],
                          capture_output=True, text=True, env=env, timeout=1800)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"planner run failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "forkjoin.py"
        path.write_text(GRAPH)
        rows, first = [], None
        for nodes in sizes:
            elapsed, report = run(path, nodes)
            assert report["status"] == "SUCCESS" and len(report["nodes"]) == nodes
            first = first or (nodes, elapsed)
            ratio = elapsed / first[1]
            rows.append((f"{nodes:,}", f"{elapsed:.1f} s", f"{elapsed / nodes * 1000:.2f} ms",
                         f"{ratio:.2f}× for {nodes / first[0]:.0f}× the nodes"))
    load = os.getloadavg()[0]
    table = Table(title=f"planner run --local, fork-join pipeline, CLI end to end (load {load:.1f})")
    for column in ("nodes", "time", "per node", "vs the smallest"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=max(Console().width, 100)).print(table)
    if len(sizes) >= 2 and sizes[-1] == 4 * sizes[0]:
        ratio = float(rows[-1][3].split("×")[0])
        print(f"target 20k ≤ 4.5 × 5k: {'met' if ratio <= 4.5 else 'NOT met'} ({ratio:.2f}×)")


if __name__ == "__main__":
    main()
