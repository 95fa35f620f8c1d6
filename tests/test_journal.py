"""The run's journal (planner.journal): real prefork workers append an event
per node received, started and ended — chord bodies, chain steps, gather
steps' nodes and the nodes a segment of exact dispatch runs inline included —
and the follower learns every node's end from it."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import redis

from planner.journal import KEY_PREFIX, MEMORY, STARTED
from planner.run import run_graph


def _events(url: str) -> dict[str, list]:
    """Every journal in the database: task id → its events' kinds."""
    client = redis.Redis.from_url(url)
    kinds: dict[str, list] = {}
    for key in client.scan_iter(f"{KEY_PREFIX}:*"):
        for raw in client.lrange(key, 0, -1):
            event = json.loads(raw)
            task_id = event[3] if event[0] == "r" and event[3] else event[1]
            kinds.setdefault(task_id, []).append(event[0])
    return kinds


def _graph():
    """A chord (fan-in), a chain, an N shape (not series-parallel) and a
    linear segment of three."""
    from workload.tasks import step

    graph = nx.DiGraph([("a", "b1"), ("a", "b2"), ("b1", "c"), ("b2", "c"), ("c", "s1"), ("s1", "s2"),
                        ("s2", "s3"), ("a", "n1"), ("n1", "n2"), ("b1", "n2")])
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node)
    return graph


@pytest.mark.timeout(90)
@pytest.mark.parametrize("strategy", ["canvas", "exact"])
def test_every_node_is_journalled_by_real_workers(strategy, redis_url, workers):
    workers("workload.tasks", redis_url, redis_url, count=1, concurrency=2)
    report = run_graph(_graph(), broker=redis_url, backend=redis_url, strategy=strategy, timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    kinds = _events(redis_url)
    for name, node in report.nodes.items():
        events = kinds.get(node.task_id, [])
        assert "s" in events and "d" in events, (name, events)
        assert node.runs == 1 and node.started is not None and node.worker.startswith("w0-"), node
    if strategy == "exact":
        # s1, s2 and s3 run inline in the segment message that starts at c: only c is received
        assert "r" in kinds[report.nodes["c"].task_id]
        assert "r" not in kinds[report.nodes["s3"].task_id]


def test_the_embedded_run_follows_the_journal(monkeypatch):
    """On the embedded worker the journal is a list in this process; the
    watcher reads it (and scans only now and then)."""
    from planner import follow

    scans = []
    original = follow.Watcher._scan
    monkeypatch.setattr(follow.Watcher, "_scan", lambda self, *a, **k: (scans.append(1), original(self, *a, **k)))
    report = run_graph(_graph(), local=True, strategy="exact", timeout=30)
    assert report.status == "SUCCESS"
    assert all(node.runs == 1 and node.started for node in report.nodes.values())
    assert len(scans) <= 1 + report.elapsed / follow.SCAN_EVERY


def _memory_watcher(graph: nx.DiGraph, run: str):
    """An app on the embedded store, a NodeRun per node of ``graph``
    (task id ``id-NAME``) and the Watcher of run ``run`` over them, which
    reads the in-process journal."""
    from celery import Celery

    from planner import make_plan
    from planner.follow import Watcher
    from planner.outcome import NodeRun

    app = Celery("journal-test", broker="memory://", backend="cache+memory://")
    for node in graph:
        graph.nodes[node]["task"] = app.signature("t")
    nodes = {name: NodeRun(name, f"id-{name}") for name in graph}
    return app, nodes, Watcher(make_plan(graph), app, nodes, run_id=run)


def test_a_start_counts_once_however_it_is_learnt():
    """redis-py sends a command again when its reply was lost, so an event
    can be appended twice; a scan may find a node's result before the
    journal says it started; a node runs again only with a start of its own
    (a retry, or a message sent again)."""
    app, nodes, watcher = _memory_watcher(nx.DiGraph([("a", "b")]), "twice")
    try:
        app.backend.store_result("id-b", "done", "SUCCESS")  # b's start and end events are late
        for event in ([STARTED, "id-a", "w0", 1, 5.0], [STARTED, "id-a", "w0", 1, 5.0]):
            MEMORY.append("twice", event)
        watcher.poll()
        assert (nodes["a"].runs, nodes["b"].runs, nodes["b"].state) == (1, 1, "SUCCESS")
        MEMORY.append("twice", [STARTED, "id-b", "w0", 1, 6.0])
        watcher.poll()
        assert (nodes["a"].runs, nodes["b"].runs) == (1, 1)
        MEMORY.append("twice", [STARTED, "id-a", "w1", 1, 9.0])  # sent again after its worker died
        watcher.poll()
        assert nodes["a"].runs == 2 and nodes["a"].worker == "w1"
    finally:
        MEMORY.discard("twice")


def test_a_node_that_starts_and_ends_between_two_reads_keeps_its_start(monkeypatch):
    """The scan runs before the journal is read: a node whose result the
    scan finds wrote its start event before it ran, so the read after has it
    (the other way round, the run ended with no start, worker or try)."""
    graph = nx.DiGraph()
    graph.add_node("a")
    app, nodes, watcher = _memory_watcher(graph, "between")
    read = MEMORY.read

    def read_then_run(run, offset):  # the node starts and ends right after each read
        events = read(run, offset)
        if not MEMORY.length(run):
            MEMORY.append(run, [STARTED, "id-a", "w0", 1, 5.0])
            app.backend.store_result("id-a", "done", "SUCCESS")
        return events

    monkeypatch.setattr(MEMORY, "read", read_then_run)
    try:
        for _ in range(3):
            watcher.poll()
            watcher._next_scan = 0.0  # a scan every poll, as after a while
            if watcher.over:
                break
        assert watcher.over and nodes["a"].started == 5.0 and nodes["a"].worker == "w0" and nodes["a"].runs == 1
    finally:
        MEMORY.discard("between")
