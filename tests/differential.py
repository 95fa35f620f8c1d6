"""The differential harness: random series-parallel graphs, biased toward the
canvas shapes Celery mishandles, run with ``--strategy canvas`` on real
Celery (the embedded worker; Redis with prefork ``celery worker``
processes; RabbitMQ as broker with a Redis backend), and the plan's
``--format python`` source run in a separate plain Python process. For
every node: it ran exactly once, got exactly its contract input (list order
included) and started after all its predecessors ended.

Used by ``tests/test_differential.py`` (a bounded sample per backend) and
``tests/soak.py`` (``make soak``: hundreds of graphs per backend, failures
grouped by shape).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import networkx as nx
import redis
from hypothesis import strategies as st
from runhelp import ROOT, TESTS, expected_input
from servers import Workers, rabbitmq_vhost, redis_server

BACKENDS = ("embedded", "redis", "rabbitmq")
RUN_TIMEOUT = 60.0  # one graph of at most 40 short tasks runs in well under a second when it works


# --- graphs ---------------------------------------------------------------------------------------


@st.composite
def risky_graphs(draw, min_nodes: int = 10, max_nodes: int = 40):
    """A series-parallel DAG of ``min_nodes``..``max_nodes`` int nodes, built
    by alternating series and parallel composition (so fan-outs sit inside
    fan-outs inside chord headers, chains end in groups, groups follow
    groups), with some ``.si`` nodes (attribute ``immutable``) and some
    transitive edges into nodes that consume them."""
    total = draw(st.integers(min_nodes, max_nodes))
    counter = iter(range(10**6))

    def build(budget: int, series: bool) -> nx.DiGraph:
        if budget == 1:
            graph = nx.DiGraph()
            graph.add_node(next(counter))
            return graph
        parts = draw(st.integers(2, min(4, budget)))
        cuts = sorted(draw(st.lists(st.integers(1, budget - 1), min_size=parts - 1, max_size=parts - 1,
                                    unique=True)))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, budget], strict=True)]
        # Mostly alternate; sometimes repeat the same kind (a group right after a group).
        flip = draw(st.integers(0, 4)) > 0
        subs = [build(size, (not series) if flip else series) for size in sizes]
        graph = nx.DiGraph()
        for sub in subs:
            graph.update(sub)
        if series:
            for before, after in zip(subs, subs[1:], strict=False):
                sinks = [v for v in before if before.out_degree(v) == 0]
                sources = [v for v in after if after.in_degree(v) == 0]
                graph.add_edges_from((u, v) for u in sinks for v in sources)
        return graph

    graph = build(total, draw(st.booleans()))
    closure = nx.transitive_closure_dag(graph)
    extra = sorted(e for e in closure.edges if not graph.has_edge(*e))
    if extra and draw(st.integers(0, 2)) == 0:
        graph.add_edges_from(draw(st.lists(st.sampled_from(extra), max_size=4)))
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(draw(st.permutations(sorted(graph.nodes))))
    shuffled.add_edges_from(draw(st.permutations(sorted(graph.edges))))
    share = draw(st.sampled_from([0, 0, 5, 3]))  # one node in `share` is .si (none: 0)
    for node in shuffled:
        shuffled.nodes[node]["immutable"] = bool(share) and draw(st.integers(0, share - 1)) == 0
    return shuffled


def with_recorded(shape: nx.DiGraph, sink: str, key: str) -> nx.DiGraph:
    """``shape`` with a ``workload.tasks.recorded`` signature on every node."""
    from workload.tasks import recorded

    graph = nx.DiGraph()
    graph.add_nodes_from(shape)
    graph.add_edges_from(shape.edges)
    for node in shape:
        make = recorded.si if shape.nodes[node].get("immutable") else recorded.s
        graph.nodes[node]["task"] = make(node=str(node), sink=sink, key=key)
    return graph


def shape_of(graph: nx.DiGraph) -> str:
    """The canvas shape features of the graph's ``--strategy canvas`` plan,
    to group failures by: what the flat tree holds that Celery might
    mishandle."""
    from planner.plan import Chain, Group, Task, walk
    from planner.planning import plan_structure

    named = nx.relabel_nodes(graph, str)
    plan = plan_structure(named, "canvas")
    features = set()
    depth = {id(plan.root): 0}
    for step in walk(plan.root):
        if isinstance(step, Chain):
            for i, sub in enumerate(step.steps):
                if isinstance(sub, Group) and i + 1 < len(step.steps):
                    features.add("group-then-group" if isinstance(step.steps[i + 1], Group) else "chord")
        if isinstance(step, Group):
            for member in step.members:
                if isinstance(member, Chain) and isinstance(member.steps[-1], Group):
                    features.add("member-chain-ends-in-group")
                if isinstance(member, Chain) and any(isinstance(s, Group) for s in member.steps[:-1]):
                    features.add("member-chain-holds-chord")
        if isinstance(step, Task) and step.gather:
            features.add("gather")
        if isinstance(step, Task) and step.gather == ():
            features.add("sent-immutable")
        for sub in (step.steps if isinstance(step, Chain) else step.members if isinstance(step, Group) else ()):
            depth[id(sub)] = depth[id(step)] + 1
    features.add(f"depth>={min(max(depth.values()), 6)}")
    return ", ".join(sorted(features))


# --- checking -------------------------------------------------------------------------------------


def recorded_runs(client: redis.Redis, key: str) -> tuple[list[str], dict]:
    runs = [value.decode() for value in client.lrange(key, 0, -1)]
    records = {name.decode(): json.loads(raw) for name, raw in client.hgetall(f"{key}:records").items()}
    return runs, records


def wait_for_records(client: redis.Redis, key: str, count: int, timeout: float) -> tuple[list[str], dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs, records = recorded_runs(client, key)
        if len(records) >= count or time.monotonic() > deadline:
            time.sleep(0.2)  # anything running twice shows up in the list meanwhile
            return recorded_runs(client, key)
        time.sleep(0.05)


def contract_failures(graph: nx.DiGraph, runs: list[str], records: dict) -> list[str]:
    """What went wrong, one line per kind, empty when every node ran once,
    got its contract input and started after its predecessors."""
    problems = []
    names = [str(n) for n in graph]
    missing = [n for n in names if n not in records]
    if missing:
        problems.append(f"never ran (a hang): {', '.join(sorted(missing))}")
    twice = sorted({n for n in runs if runs.count(n) > 1})
    if twice:
        problems.append(f"ran more than once: {', '.join(twice)}")
    for node in graph:
        name = str(node)
        if name not in records:
            continue
        want, got = expected_input(graph, node), records[name]["got"]
        if got != want:
            kind = "wrong order" if isinstance(got, list) and isinstance(want, list) and sorted(map(str, got)) == \
                sorted(map(str, want)) else "wrong input"
            problems.append(f"{kind}: {name} got {got!r}, contract {want!r}")
        for pred in graph.predecessors(node):
            if str(pred) in records and records[name]["start"] < records[str(pred)]["end"]:
                problems.append(f"order: {name} started before {pred} ended")
    return problems


# --- backends -------------------------------------------------------------------------------------


class Backend:
    """One of the three ways to run: ``check(shape, folder)`` runs a graph
    through ``planner run --strategy canvas`` (the library call the CLI
    makes) and the plan's Python source in a plain Python process (not for
    the embedded worker, which lives in planner's own process), and returns
    the failures."""

    def __init__(self, name: str, sink: str, broker: str | None = None, backend: str | None = None):
        self.name, self.sink, self.broker, self.backend = name, sink, broker, backend
        self.client = redis.Redis.from_url(sink)
        self.driver: subprocess.Popen | None = None

    def check(self, shape: nx.DiGraph, folder: Path | None = None) -> list[str]:
        """Run ``shape`` through ``planner run --strategy canvas`` and, unless
        on the embedded worker or without ``folder``, its Python source in the
        plain-Python driver process at the same time; the failures of both."""
        sent = self._send_source(shape, folder) if folder is not None and self.name != "embedded" else None
        problems = [f"run: {p}" for p in self.run(shape)]
        if sent is not None:
            problems += [f"--format python source: {p}" for p in self._source_outcome(*sent)]
        return problems

    def run(self, shape: nx.DiGraph) -> list[str]:
        from planner.run import run_graph

        key = f"run-{uuid.uuid4().hex}"
        graph = with_recorded(shape, self.sink, key)
        if self.name == "embedded":
            report = run_graph(graph, local=True, strategy="canvas", timeout=RUN_TIMEOUT)
        else:
            report = run_graph(graph, broker=self.broker, backend=self.backend, strategy="canvas",
                               timeout=RUN_TIMEOUT)
        runs, records = wait_for_records(self.client, key, len(graph), 2.0)
        problems = contract_failures(graph, runs, records)
        if report.status != "SUCCESS":
            problems.insert(0, f"run ended {report.status}: " + ", ".join(
                f"{n}={node.state}" for n, node in sorted(report.nodes.items()) if node.state != "SUCCESS"))
        return problems

    def _send_source(self, shape: nx.DiGraph, folder: Path):
        """Write the plan's ``--format python`` source and have the driver
        process send it (its answer is read later)."""
        from planner.planning import make_plan, signatures
        from planner.source import to_python

        key = f"src-{uuid.uuid4().hex}"
        graph = with_recorded(shape, self.sink, key)
        path = folder / f"{key}.py"
        path.write_text(to_python(make_plan(graph, "canvas"), signatures(graph)))
        driver = self._driver()
        driver.stdin.write(f"{path}\n")
        driver.stdin.flush()
        return graph, key, path

    def _source_outcome(self, graph: nx.DiGraph, key: str, path: Path) -> list[str]:
        reply = (self.driver.stdout.readline() or "the driver process died").strip()
        problems = [] if reply == "sent" else [f"the source did not run: {reply}"]
        runs, records = wait_for_records(self.client, key, len(graph), RUN_TIMEOUT if not problems else 1.0)
        path.unlink()
        return problems + contract_failures(graph, runs, records)

    def _driver(self) -> subprocess.Popen:
        """The plain-Python process that execs a source file per line on its
        stdin and sends its ``canvas`` (tests/source_driver.py)."""
        if self.driver is None or self.driver.poll() is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
            self.driver = subprocess.Popen(
                [sys.executable, str(TESTS / "source_driver.py"), self.broker, self.backend],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=str(TESTS))
        return self.driver

    def close(self) -> None:
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.driver.stdin.close()
                self.driver.wait(10)
        self.client.close()


@contextlib.contextmanager
def backend(name: str, redis_base: str, amqp: str | None = None, workers: int = 2, concurrency: int = 3):
    """A running backend ``name`` (see ``BACKENDS``), its records kept on
    ``redis_base``; the workers are stopped after."""
    sink = f"{redis_base}/0"
    if name == "embedded":
        runner = Backend(name, sink)
        try:
            yield runner
        finally:
            runner.close()
        return
    broker = sink if name == "redis" else amqp
    with Workers("workload.tasks", broker, sink, count=workers, concurrency=concurrency):
        runner = Backend(name, sink, broker, sink)
        try:
            yield runner
        finally:
            runner.close()


@contextlib.contextmanager
def servers():
    """A private redis-server and RabbitMQ vhost (``None`` when RabbitMQ does
    not answer): ``(redis_base_url, amqp_url)``."""
    with redis_server() as base, rabbitmq_vhost() as amqp:
        yield base, amqp


__all__ = ["BACKENDS", "ROOT", "backend", "contract_failures", "risky_graphs", "servers", "shape_of"]
