"""Helpers shared by the ``planner run`` tests: random DAGs of workload
tasks, graph files, the CLI in a subprocess, and the contract check."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import networkx as nx
import redis
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


@st.composite
def small_dags(draw, max_nodes: int = 10):
    """A DAG on int nodes with edges in random insertion order; node
    attribute ``immutable`` on some nodes."""
    n = draw(st.integers(1, max_nodes))
    order = draw(st.permutations(range(n)))
    edges = [(order[i], order[j]) for j in range(n) for i in range(j) if draw(st.integers(0, 9)) < 3]
    graph = nx.DiGraph()
    graph.add_nodes_from(draw(st.permutations(range(n))))
    graph.add_edges_from(draw(st.permutations(edges)) if edges else [])
    for node in graph:
        graph.nodes[node]["immutable"] = draw(st.integers(0, 5)) == 0
    return graph


def with_tasks(shape: nx.DiGraph, task, **kwargs) -> nx.DiGraph:
    """``shape`` with a ``task`` signature on every node (``.si`` where the
    node is ``immutable``)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(shape)
    graph.add_edges_from(shape.edges)
    for node in shape:
        make = task.si if shape.nodes[node].get("immutable") else task.s
        graph.nodes[node]["task"] = make(node=str(node), **kwargs)
    return graph


def expected_input(graph: nx.DiGraph, node):
    """What the node's ``got`` must be under the graph contract."""
    if graph.nodes[node]["task"].immutable:
        return None
    preds = [str(p) for p in graph.predecessors(node)]
    if not preds:
        return None
    return preds[0] if len(preds) == 1 else preds


def check_contract(graph: nx.DiGraph, results: dict, runs: list[str] | None = None) -> None:
    """Every node got its contract input, started after all its predecessors
    ended, and (with ``runs``, the executions log) ran exactly once."""
    for node in graph:
        name = str(node)
        got = results[name]
        assert got["node"] == name
        assert got["got"] == expected_input(graph, node), (name, got["got"], sorted(graph.edges))
        for pred in graph.predecessors(node):
            assert got["start"] >= results[str(pred)]["end"], f"{name} started before {pred} ended"
    if runs is not None:
        assert sorted(runs) == sorted(str(n) for n in graph), "every node runs exactly once"


def write_graph_file(folder: Path, body: str, name: str = "graph.py") -> Path:
    """A graph file that imports the workload tasks."""
    path = folder / name
    header = f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nimport networkx as nx\n"
    path.write_text(header + textwrap.dedent(body))
    return path


def planner_cli(*args, timeout: float = 60, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``planner ARGS`` in a subprocess, as a user would run it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@contextlib.contextmanager
def killing_the_victim(redis_url: str, workers=None, within: float = 30):
    """While the block runs, SIGKILL the worker that runs
    ``workload.fragile.victim`` (it stores its worker's pid under ``victim``);
    after it, check that one was killed (one of ``workers``, when given)."""
    client = redis.Redis.from_url(redis_url)
    killed: list[int] = []

    def watch():
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pid = client.get("victim")
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield killed
    watcher.join(5)
    assert killed, "the victim never ran"
    if workers is not None:
        assert killed[0] in [p.pid for p in workers.processes]


def recording_dag(tally: str, nodes: int = 40, seed: int = 3, sleeps: tuple[float, float] = (0.3, 1.0)) -> nx.DiGraph:
    """A layered DAG of ``nodes`` tasks that record every execution in the
    Redis list ``tally`` and sleep between ``sleeps`` seconds."""
    import random

    from workload.tasks import counted

    rng = random.Random(seed)
    graph, previous, count = nx.DiGraph(), [], 0
    while count < nodes:
        layer = [f"v{count + i}" for i in range(min(nodes - count, rng.randint(3, 6)))]
        count += len(layer)
        for name in layer:
            graph.add_node(name, task=counted.s(node=name, sleep=round(rng.uniform(*sleeps), 2), tally=tally))
            for pred in rng.sample(previous, min(len(previous), rng.randint(1, 2))) if previous else ():
                graph.add_edge(pred, name)
        previous = layer
    return graph


def wrong_inputs(graph: nx.DiGraph, report) -> list[str]:
    """The nodes that succeeded with another input than the contract's."""
    return [name for name, node in report.nodes.items()
            if node.state == "SUCCESS" and node.result["got"] != expected_input(graph, name)]
