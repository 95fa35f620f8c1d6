"""Lost nodes (planner.recovery): real prefork workers started with Celery's
default settings (no acks_late, no visibility_timeout), one of them killed
mid-run; every node still runs with its contract input."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
import redis
from runhelp import recording_dag, wrong_inputs

import planner
from planner.run import run_graph


def _killer(group, graph, what: str):
    """An on_progress callback that SIGKILLs, a third of the way in, the
    main process (``what="main"``) or a pool process (``"child"``) of a
    worker running a node."""
    killed: list[str] = []

    def on_progress(progress):
        if killed or progress.done < len(graph) // 3:
            return
        running = [node.worker for node in progress.nodes.values() if node.running and node.worker]
        if not running or running[0] not in group.names:
            return
        process = group.processes[group.names.index(running[0])]
        if what == "main":
            os.kill(process.pid, signal.SIGKILL)
        else:
            children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout
            for pid in children.split():
                os.kill(int(pid), signal.SIGKILL)
        killed.append(running[0])

    return on_progress, killed


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["exact", "canvas"])
def test_a_killed_worker_loses_no_node(strategy, redis_url, workers):
    """Also followed by id from another thread, as ``planner status --wait``
    does: a canvas goes on under new task ids, and that follower keeps up."""
    group = workers("workload.tasks", redis_url, redis_url, count=2, concurrency=2)
    graph = recording_dag(redis_url, nodes=20, sleeps=(0.2, 0.6))
    on_progress, killed = _killer(group, graph, "main")
    other: dict = {}

    def follow_elsewhere(record):
        def wait():
            other["report"] = planner.attach(record.run_id, backend=redis_url).wait(timeout=80)

        other["thread"] = threading.Thread(target=wait, daemon=True)
        other["thread"].start()

    report = run_graph(graph, broker=redis_url, backend=redis_url, strategy=strategy, timeout=90,
                       on_progress=on_progress, on_start=follow_elsewhere)
    other["thread"].join(60)
    assert killed, "no worker was killed"
    elsewhere = other["report"]
    assert elsewhere.status == "SUCCESS", {name: (node.state, node.error) for name, node in elsewhere.nodes.items()}
    assert {name: (node.task_id, node.result) for name, node in elsewhere.nodes.items()} == \
        {name: (node.task_id, node.result) for name, node in report.nodes.items()}
    states = {name: (node.state, node.worker, node.runs) for name, node in report.nodes.items() if node.state != "SUCCESS"}
    assert report.status == "SUCCESS", (states, report.warnings, killed)
    assert report.elapsed < 45
    assert not wrong_inputs(graph, report)
    runs = [value.decode() for value in redis.Redis.from_url(redis_url).lrange("tally", 0, -1)]
    assert set(runs) == {str(node) for node in graph}
    for name, node in report.nodes.items():  # a node that ran twice says so
        assert node.runs >= runs.count(name) or runs.count(name) == 1, (name, node.runs, runs.count(name))
    assert any(f"worker {killed[0]} stopped answering" in warning for warning in report.warnings), report.warnings


@pytest.mark.timeout(120)
def test_a_killed_pool_process_fails_its_node_cleanly(redis_url, workers):
    group = workers("workload.tasks", redis_url, redis_url, count=2, concurrency=2)
    graph = recording_dag(redis_url, nodes=12, sleeps=(0.3, 0.6))
    on_progress, killed = _killer(group, graph, "child")
    report = run_graph(graph, broker=redis_url, backend=redis_url, strategy="exact", timeout=60,
                       on_progress=on_progress)
    assert killed
    assert report.status == "FAILURE", report.as_json()
    failed = [node for node in report.nodes.values() if node.state == "FAILURE"]
    assert failed and all("WorkerLostError" in node.error for node in failed), report.as_json()
    assert not wrong_inputs(graph, report)
    assert all(node.state in ("SUCCESS", "FAILURE", "SKIPPED") for node in report.nodes.values())


@pytest.mark.timeout(90)
def test_preflight_warns_when_worker_settings_could_lose_a_node(redis_url, workers):
    """Workers on Celery's defaults: the canvas strategy could lose a running
    node (one warning line); exact dispatch sends it again (no warning)."""
    import networkx as nx
    from workload.tasks import step

    graph = nx.DiGraph([("a", "b")])
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node)
    workers("workload.tasks", redis_url, redis_url, count=1, concurrency=1)
    canvas = run_graph(graph, broker=redis_url, backend=redis_url, strategy="canvas", timeout=30)
    assert canvas.status == "SUCCESS"
    lines = [w for w in canvas.warnings if "task_acks_late is off" in w]
    assert len(lines) == 1 and "planner.worker_settings()" in lines[0], canvas.warnings
    exact = run_graph(graph, broker=redis_url, backend=redis_url, strategy="exact", timeout=30)
    assert not [w for w in exact.warnings if "task_acks_late" in w], exact.warnings


@pytest.mark.timeout(120)
def test_a_killed_worker_loses_no_node_on_rabbitmq(amqp_url, redis_url, workers):
    """RabbitMQ requeues what the dead worker had prefetched; what it was
    running is sent again by planner."""
    group = workers("workload.tasks", amqp_url, redis_url, count=2, concurrency=2)
    graph = recording_dag(redis_url, nodes=20, sleeps=(0.2, 0.6))
    on_progress, killed = _killer(group, graph, "main")
    report = run_graph(graph, broker=amqp_url, backend=redis_url, strategy="exact", timeout=90,
                       on_progress=on_progress)
    assert killed and report.status == "SUCCESS", report.warnings
    assert not wrong_inputs(graph, report)
    runs = [value.decode() for value in redis.Redis.from_url(redis_url).lrange("tally", 0, -1)]
    assert set(runs) == {str(node) for node in graph}
