"""Exact dispatch against Celery's own canvas, on the same workers.

Starts its own redis-server and ``celery worker`` processes (prefork) and
prints three tables:

1. Random DAGs that are not series-parallel (sleep tasks): makespan ÷ the
   lower bound max(critical path, total work ÷ worker slots), for the
   ``canvas`` and ``exact`` strategies, on the embedded default and on Redis.
   Target for exact: ≤ 1.15.
2. Long chains (100 … 2000 steps) and wide chords (1000, 5000 tasks) of
   trivial tasks on one ``worker -c 2``: Celery's native canvas vs planner
   (``auto``, which picks exact for these). Target: 2000 steps ≥ 10× faster,
   chord 5000 at least as fast.
3. Bytes per broker message for the largest graphs.

    python bench/bench_exact.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import servers  # noqa: E402  (tests/servers.py: redis-server and celery workers)
from celery import chain, chord, uuid  # noqa: E402

from planner import exact  # noqa: E402
from planner.analysis import plan_canvas  # noqa: E402
from planner.describe import critical_path  # noqa: E402
from planner.embedded import configure_in_memory, embedded_worker, forget_connections  # noqa: E402
from planner.planning import make_plan, signatures  # noqa: E402
from planner.submission import submit  # noqa: E402

# --- graphs ---------------------------------------------------------------------------------------------


def random_dag(n: int, seed: int) -> nx.DiGraph:
    """A layered random DAG of ``n`` nodes with sleep costs 0.05–0.25 s that
    is not series-parallel (redrawn until the canvas must add ordering)."""
    rng = random.Random(seed)
    while True:
        width = max(3, int(n ** 0.5))
        graph = nx.DiGraph()
        layers: list[list[str]] = []
        count = 0
        while count < n:
            layer = [f"v{count + i}" for i in range(min(n - count, rng.randint(2, width)))]
            count += len(layer)
            for node in layer:
                graph.add_node(node, cost=round(rng.uniform(0.05, 0.25), 3))
                if layers:
                    for pred in rng.sample(layers[-1], min(len(layers[-1]), rng.randint(1, 2))):
                        graph.add_edge(pred, node)
                    if len(layers) > 1 and rng.random() < 0.3:
                        graph.add_edge(rng.choice(layers[-2]), node)
            layers.append(layer)
        if plan_canvas(graph).added:
            return graph


def with_steps(shape: nx.DiGraph, sleep: bool = True) -> nx.DiGraph:
    from workload.tasks import step

    graph = shape.copy()
    for node, attrs in graph.nodes(data=True):
        attrs["task"] = step.s(node=node, sleep=attrs.get("cost", 0) if sleep else 0)
        attrs.pop("cost", None)
    return graph


def linear(n: int) -> nx.DiGraph:
    graph = nx.DiGraph()
    nx.add_path(graph, [f"s{i}" for i in range(n)])
    return graph


def fan_in(n: int) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_edges_from((f"h{i}", "body") for i in range(n))
    return graph


# --- running --------------------------------------------------------------------------------------------


def wait_all(app, task_ids, timeout: float = 600) -> list[dict]:
    """Every task's meta once all succeeded (reads the store in batches)."""
    backend = app.backend
    waiting = list(task_ids)
    metas: list[dict] = []
    deadline = time.monotonic() + timeout
    while waiting:
        keys = [backend.get_key_for_task(t) for t in waiting]
        raw = backend.mget(keys)
        if isinstance(raw, dict):
            raw = [raw.get(k) for k in keys]
        still = []
        for task_id, value in zip(waiting, raw, strict=True):
            meta = backend.decode_result(value) if value is not None else None
            if meta and meta["status"] == "SUCCESS":
                metas.append(meta)
            elif meta and meta["status"] in ("FAILURE", "REVOKED"):
                raise RuntimeError(f"task {task_id} failed: {meta.get('result')}")
            else:
                still.append(task_id)
        waiting = still
        if waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} tasks not done in {timeout} s")
            time.sleep(0.005)
    return metas


def wait_one(app, task_id: str, timeout: float = 600) -> None:
    app.AsyncResult(task_id).get(timeout=timeout, interval=0.005, disable_sync_subtasks=False)


def run_planner(app, graph: nx.DiGraph, strategy: str, timeout: float = 600) -> tuple[float, dict]:
    """Submit ``graph`` with ``strategy``; (seconds until every node
    finished, results by node)."""
    plan = make_plan(graph, strategy)
    task_ids = {name: uuid() for name in plan.graph}
    sigs = signatures(graph)
    start = time.time()
    submit(plan, sigs, app, task_ids)
    metas = wait_all(app, list(task_ids.values()), timeout)
    results = {m["result"]["node"]: m["result"] for m in metas}
    return max(r["end"] for r in results.values()) - start, results


# --- 1. random DAGs -----------------------------------------------------------------------------------------


def dag_table(app, where: str, sizes, slots: int, seeds: int, purge=None) -> list[tuple]:
    """Exact first, then the canvas: a canvas given up on keeps its workers
    busy for a while (``purge`` drops what it left queued)."""
    rows = []
    for n in sizes:
        ratios = {"exact": [], "canvas": []}
        lost = {"exact": 0, "canvas": 0}
        for seed in range(seeds if n < 200 else 1):
            shape = random_dag(n, seed)
            _, path_cost = critical_path(shape)
            total = sum(shape.nodes[v]["cost"] for v in shape)
            bound = max(path_cost, total / slots)
            graph = with_steps(shape)
            for strategy in ("exact", "canvas"):
                try:
                    makespan, _ = run_planner(app, graph, strategy, timeout=4 * bound + 5)
                except RuntimeError as error:  # see the notes under the table
                    lost[strategy] += 1
                    print(f"  {where} {n} nodes seed {seed}: {strategy} run lost: {error}", flush=True)
                    if purge:
                        purge()
                    continue
                ratios[strategy].append(makespan / bound)

        def mean_max(values):
            return (statistics.mean(values), max(values)) if values else (float("nan"), float("nan"))

        rows.append((where, n, *mean_max(ratios["canvas"]), lost["canvas"], *mean_max(ratios["exact"]),
                     lost["exact"]))
        print(f"  {where:9} {n:4d} nodes: canvas {rows[-1][2]:.2f} (max {rows[-1][3]:.2f}), "
              f"exact {rows[-1][5]:.2f} (max {rows[-1][6]:.2f})", flush=True)
    return rows


# --- 2. chains and chords -----------------------------------------------------------------------------------


def native_chain(app, n: int) -> float:
    from workload.tasks import step

    ids = [uuid() for _ in range(n)]
    start = time.monotonic()
    chain(*(step.s(node=f"s{i}").set(task_id=ids[i]) for i in range(n))).apply_async()
    wait_one(app, ids[-1])
    return time.monotonic() - start


def native_chord(app, n: int) -> float:
    from workload.tasks import step

    body_id = uuid()
    start = time.monotonic()
    chord([step.s(node=f"h{i}") for i in range(n)], step.s(node="body").set(task_id=body_id)).apply_async()
    wait_one(app, body_id)
    return time.monotonic() - start


def planner_timed(app, graph: nx.DiGraph, last: str, strategy: str = "auto") -> tuple[float, str]:
    plan = make_plan(graph, strategy)
    task_ids = {name: uuid() for name in plan.graph}
    sigs = signatures(graph)
    start = time.monotonic()
    submit(plan, sigs, app, task_ids)
    wait_one(app, task_ids[last])
    return time.monotonic() - start, plan.strategy


# --- 3. message sizes ---------------------------------------------------------------------------------------


def queued_bytes(client) -> list[int]:
    sizes = [len(m) for m in client.lrange("celery", 0, -1)]
    client.delete("celery")
    return sizes


def message_table(app, client, chain_n: int, chord_n: int) -> list[tuple]:
    """Messages queued by submitting (no worker consumes this db)."""
    from workload.tasks import step

    rows = []
    client.delete("celery")
    chain(*(step.s(node=f"s{i}") for i in range(chain_n))).apply_async()
    rows.append((f"chain {chain_n}", "native", queued_bytes(client)))
    exact.submit(make_plan(with_steps(linear(chain_n), False), "exact"), signatures(with_steps(linear(chain_n), False)),
                 app, {f"s{i}": uuid() for i in range(chain_n)})
    rows.append((f"chain {chain_n}", "exact", queued_bytes(client)))
    chord([step.s(node=f"h{i}") for i in range(chord_n)], step.s(node="body")).apply_async()
    rows.append((f"chord {chord_n}", "native", queued_bytes(client)))
    graph = with_steps(fan_in(chord_n), False)
    exact.submit(make_plan(graph, "exact"), signatures(graph), app, {name: uuid() for name in graph})
    rows.append((f"chord {chord_n}", "exact", queued_bytes(client)))
    return rows


# --- main ---------------------------------------------------------------------------------------------------


def point_at(app, broker: str, backend: str) -> None:
    forget_connections(app)
    app.conf.update(broker_url=broker, result_backend=backend, broker_transport_options={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--chains", default=None, help="chain lengths, e.g. 100,500,1000,2000")
    parser.add_argument("--chords", default=None, help="chord widths, e.g. 1000,5000")
    parser.add_argument("--skip-dags", action="store_true", help="leave out table 1")
    parser.add_argument("--seeds", type=int, default=1, help="random DAGs per size in table 1 (below 200 nodes)")
    options = parser.parse_args()
    chains = [int(x) for x in (options.chains or ("100,500" if options.quick else "100,500,1000,2000")).split(",")]
    chords = [int(x) for x in (options.chords or ("1000" if options.quick else "1000,5000")).split(",")]
    dag_sizes = [20, 50] if options.quick else [20, 50, 100, 200]
    seeds = options.seeds
    dag_slots = 48  # at least the graphs' width: the bound is then their critical path

    from workload.tasks import app

    began = time.monotonic()
    print("1. random non-series-parallel DAGs: makespan ÷ max(critical path, work ÷ slots)", flush=True)
    dag_rows = []
    if options.skip_dags:
        dag_sizes = []
    configure_in_memory(app)
    with embedded_worker(app, concurrency=dag_slots):
        dag_rows += dag_table(app, "embedded", dag_sizes, dag_slots, seeds)

    import redis

    with servers.redis_server() as base:
        dags_url, fast_url, idle_url = f"{base}/1", f"{base}/2", f"{base}/3"
        # Sleep tasks: a threads pool gives 48 slots without 48 processes on a small machine.
        with servers.Workers("workload.tasks", dags_url, dags_url, count=1, concurrency=dag_slots,
                             extra_args=["-P", "threads"]):
            point_at(app, dags_url, dags_url)

            def purge():
                app.control.purge()
                time.sleep(2)

            dag_rows += dag_table(app, "redis", dag_sizes, dag_slots, seeds, purge)

        print("\n2. trivial tasks on one `celery worker -c 2` (Redis): native canvas vs planner", flush=True)
        speed_rows = []
        with servers.Workers("workload.tasks", fast_url, fast_url, count=1, concurrency=2):
            point_at(app, fast_url, fast_url)
            for n in chains:
                native = native_chain(app, n)
                ours, strategy = planner_timed(app, with_steps(linear(n), False), f"s{n - 1}")
                speed_rows.append((f"chain {n}", native, ours, strategy))
                print(f"  chain {n}: native {native:.2f} s, planner ({strategy}) {ours:.2f} s", flush=True)
            for n in chords:
                native = native_chord(app, n)
                ours, strategy = planner_timed(app, with_steps(fan_in(n), False), "body")
                speed_rows.append((f"chord {n}", native, ours, strategy))
                print(f"  chord {n}: native {native:.2f} s, planner ({strategy}) {ours:.2f} s", flush=True)

        point_at(app, idle_url, idle_url)
        message_rows = message_table(app, redis.Redis.from_url(idle_url), max(chains), max(chords))

    print("\n" + "=" * 78)
    print(f"1. random non-series-parallel DAGs (sleep 0.05–0.25 s; {dag_slots} slots); makespan ÷ bound")
    print(f"{'where':10} {'nodes':>6} {'canvas mean':>12} {'canvas max':>11} {'lost':>7} "
          f"{'exact mean':>11} {'exact max':>10} {'lost':>7}")
    for where, n, c_mean, c_max, c_failed, e_mean, e_max, e_failed in dag_rows:
        print(f"{where:10} {n:6d} {c_mean:12.2f} {c_max:11.2f} {c_failed:7d} {e_mean:11.2f} {e_max:10.2f} {e_failed:7d}")
    print("   lost: the run failed or did not finish within 4 × bound + 5 s. Canvas runs are lost when a")
    print("   planner.gather step right after its predecessor in a chain reads the result store before")
    print("   Celery stored that result (Celery sends the next chain step first), or when Celery's cloning")
    print("   of deeply nested chords keeps the workers busy (200 nodes).")
    print("\n2. trivial tasks, one worker -c 2, Redis: seconds until the last task finished")
    print(f"{'graph':12} {'native canvas':>14} {'planner':>9} {'strategy':>9} {'speed-up':>9}")
    for name, native, ours, strategy in speed_rows:
        print(f"{name:12} {native:14.2f} {ours:9.2f} {strategy:>9} {native / ours:8.1f}×")
    print("\n3. broker messages queued at submission (bytes)")
    print(f"{'graph':12} {'how':>7} {'messages':>9} {'largest':>10} {'mean':>8}")
    for name, how, sizes in message_rows:
        print(f"{name:12} {how:>7} {len(sizes):9d} {max(sizes):10d} {statistics.mean(sizes):8.0f}")
    print("   (exact: every later message is one node's signature plus its input, sent by the worker")
    print("    that finished its last predecessor)")
    print(f"\nbench time: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers it started on the way out
    code = 130
    with contextlib.suppress(KeyboardInterrupt):
        code = main()
    # Result objects Celery still tracks would try, at interpreter exit, to unsubscribe from the
    # redis-server this script already stopped (a noisy, harmless traceback): leave without that.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
