"""The Python API (``planner.submit`` / ``attach`` / ``Run``) and ``planner
status``: a run submitted in one process, attached to and waited for in
another, followed with ``planner status --wait --json`` in a third, on a
real Redis with ``celery worker`` processes; cancel; the run record's
expiry; ``local=True`` on the embedded worker; the status of finished runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import networkx as nx
import pytest
import redis
from runhelp import ROOT, TESTS, planner_cli, read_json, write_graph_file

import planner
from planner.errors import PlannerError

NODE_KEYS = {"state", "result", "error", "task_id", "started", "finished", "worker", "tries", "runs", "fingerprint",
             "reason"}
REPORT_KEYS = {"status", "run_id", "strategy", "elapsed", "parameters", "warnings", "nodes"}


@pytest.fixture(scope="module")
def cluster(redis_cluster):
    """Two workers of the workload app on a redis-server of their own."""
    return redis_cluster


DIAMOND = """
    from workload.tasks import step, boom
    graph = nx.DiGraph()
    graph.add_node("extract", task=step.s(node="extract", sleep={sleep}))
    graph.add_node("left", task=step.s(node="left", sleep={sleep}))
    graph.add_node("right", task={right}.s(node="right"))
    graph.add_node("load", task=step.s(node="load", sleep={sleep}))
    graph.add_edges_from([("extract", "left"), ("extract", "right"), ("left", "load"), ("right", "load")])
"""


def diamond(tmp_path: Path, sleep: float = 0.0, failing: bool = False) -> Path:
    return write_graph_file(tmp_path, DIAMOND.format(sleep=sleep, right="boom" if failing else "step"))


def python(code: str, *args, timeout: float = 60, wait: bool = True):
    """``python -c code args`` with the suite's folders on the path (a
    process of its own, as another program using planner would be)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-c", code, *map(str, args)]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


SUBMIT = """
import sys, planner
from planner.graphfile import load_graph
run = planner.submit(load_graph(sys.argv[1]), broker=sys.argv[2], backend=sys.argv[2], parameters={"day": "x"})
print(run.id)
print(json.dumps(run.status()))
""".replace("import sys,", "import json, sys,")

ATTACH_AND_WAIT = """
import json, sys, planner
report = planner.attach(sys.argv[1], broker=sys.argv[2], backend=sys.argv[2]).wait(timeout=40)
from planner.report import write_json
write_json(report, sys.argv[3])
"""


def schema(report: dict) -> tuple:
    return set(report), {name: set(node) for name, node in report["nodes"].items()}


@pytest.mark.timeout(120)
def test_submit_attach_and_status_agree_across_three_processes(cluster, tmp_path):
    path = diamond(tmp_path, sleep=0.6)
    submitted = python(SUBMIT, path, cluster)
    assert submitted.returncode == 0, submitted.stderr
    run_id, states = submitted.stdout.splitlines()
    # submit returned at once: the run goes on after the submitting process ended
    assert json.loads(states)["load"] in ("PENDING", "RUNNING")
    waiter = python(ATTACH_AND_WAIT, run_id, cluster, tmp_path / "attached.json", wait=False)
    status = planner_cli("status", run_id, "--broker", cluster, "--wait", "--json", tmp_path / "status.json",
                         timeout=60)
    assert status.returncode == 0, status.stderr
    assert waiter.wait(60) == 0, waiter.stderr.read()
    attached, followed = read_json(tmp_path / "attached.json"), read_json(tmp_path / "status.json")
    assert status.stdout.count("SUCCESS") >= 4 and "[4/4]" in status.stderr  # run's progress display
    ran = planner_cli("run", path, "--broker", cluster, "--json", tmp_path / "run.json", timeout=60)
    assert ran.returncode == 0, ran.stderr
    reference = read_json(tmp_path / "run.json")
    assert set(reference) == REPORT_KEYS and all(set(node) == NODE_KEYS for node in reference["nodes"].values())
    assert schema(attached) == schema(followed) == schema(reference)
    for report in (attached, followed):
        assert report["run_id"] == run_id and report["status"] == "SUCCESS"
        assert report["parameters"] == {"day": "x"}
    assert attached["nodes"] == followed["nodes"]
    assert attached["nodes"]["load"]["result"]["got"] == ["left", "right"]
    assert all(node["worker"].startswith("w") for node in attached["nodes"].values())


@pytest.mark.timeout(90)
def test_planner_run_prints_its_id_and_status_shows_the_finished_run(cluster, tmp_path):
    path = diamond(tmp_path, failing=True)
    ran = planner_cli("run", path, "--broker", cluster, "--json", tmp_path / "run.json", timeout=60)
    assert ran.returncode == 1, ran.stderr
    first = ran.stderr.splitlines()[0]
    reference = read_json(tmp_path / "run.json")
    run_id = reference["run_id"]
    assert first == f"run id: {run_id}  (follow it elsewhere: planner status {run_id} --wait)"
    shown = planner_cli("status", run_id, "--backend", cluster, "--json", tmp_path / "status.json",
                        "--render", tmp_path / "status.dot", timeout=60)
    assert shown.returncode == 1, shown.stderr  # as run: a node failed
    status = read_json(tmp_path / "status.json")
    # The run times itself; status derives the time from the nodes' records.
    assert abs(status.pop("elapsed") - reference.pop("elapsed")) < 1
    assert status == reference
    assert "FAILED" in shown.stdout.upper() and "right" in shown.stdout
    assert "ValueError: right failed on purpose" in shown.stdout
    drawing = (tmp_path / "status.dot").read_text()
    assert "FAILURE" in drawing and "SKIPPED" in drawing
    waited = planner_cli("status", run_id, "--backend", cluster, "--wait", "--json", tmp_path / "waited.json")
    assert waited.returncode == 1 and read_json(tmp_path / "waited.json")["nodes"] == reference["nodes"]


@pytest.mark.timeout(60)
def test_status_errors_are_one_line(cluster, tmp_path):
    from servers import free_port

    missing = planner_cli("status", "no-such-run", "--backend", cluster)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"planner: error: no run 'no-such-run' in the result backend {cluster}: unknown id, or its record expired "
        "(records expire with the results, after the submitting app's result_expires: Celery's default is 1 day)"]
    dead = planner_cli("status", "x", "--backend", f"redis://:secret@127.0.0.1:{free_port()}/0")
    assert dead.returncode == 2 and len(dead.stderr.strip().splitlines()) == 1
    assert dead.stderr.startswith("planner: error: cannot reach the result backend at redis://:**@127.0.0.1:")
    assert "secret" not in dead.stderr
    nowhere = planner_cli("status", "x")
    assert nowhere.returncode == 2 and "no result backend to read it from" in nowhere.stderr
    rpc = planner_cli("status", "x", "--backend", "rpc://")
    assert rpc.returncode == 2 and len(rpc.stderr.strip().splitlines()) == 1
    assert "keeps no run records (it is not a key-value store)" in rpc.stderr


CHAIN = 10


def chain_graph(tally: str, sleep: float = 0.3) -> nx.DiGraph:
    from workload.tasks import counted

    graph = nx.DiGraph()
    names = [f"s{i}" for i in range(CHAIN)]
    for name in names:
        graph.add_node(name, task=counted.s(node=name, sleep=sleep, tally=tally))
    nx.add_path(graph, names)
    return graph


@pytest.mark.timeout(90)
@pytest.mark.parametrize("strategy", ["canvas", "exact"])
def test_cancel_stops_what_has_not_run(cluster, strategy):
    client = redis.Redis.from_url(cluster)
    client.delete("tally")
    run = planner.submit(chain_graph(cluster), strategy=strategy, broker=cluster, backend=cluster)
    time.sleep(0.8)
    run.cancel()
    other = planner.attach(run.id, broker=cluster, backend=cluster)
    report = other.wait(timeout=20)
    assert report.status == "CANCELLED", report.as_json()
    time.sleep(1.0)
    ran = len(client.lrange("tally", 0, -1))
    assert ran <= 5, f"{ran} of {CHAIN} nodes ran after cancel"
    assert report.count("SUCCESS") < CHAIN
    time.sleep(0.7)
    assert len(client.lrange("tally", 0, -1)) == ran  # and nothing more
    assert planner.attach(run.id, broker=cluster, backend=cluster).report().status == "CANCELLED"


@pytest.mark.timeout(60)
def test_the_run_record_expires_with_result_expires(redis_url):
    from workload.tasks import app, step

    graph = nx.DiGraph()
    graph.add_node("a", task=step.s(node="a"))
    client = redis.Redis.from_url(redis_url)
    default = planner.submit(graph, broker=redis_url, backend=redis_url, preflight=False)
    assert 86300 < client.ttl(f"planner-run-{default.id}") <= 86400  # Celery's default: one day
    with pytest.raises(PlannerError, match=f"^cannot cancel run '{default.id}' without its broker: attach with "
                                           "broker=URL"):
        planner.attach(default.id, backend=redis_url).cancel()
    before = app.conf.result_expires
    app.conf.result_expires = 2
    try:
        run = planner.submit(graph, broker=redis_url, backend=redis_url, preflight=False)
    finally:
        app.conf.result_expires = before
    assert 0 < client.ttl(f"planner-run-{run.id}") <= 2
    assert planner.attach(run.id, backend=redis_url).id == run.id
    time.sleep(2.5)
    with pytest.raises(PlannerError, match=f"no run '{run.id}' in the result backend .*unknown id, or its record "
                                           "expired"):
        planner.attach(run.id, backend=redis_url)


@pytest.mark.timeout(60)
def test_local_runs_on_the_embedded_worker_until_waited_for():
    from workload.tasks import step

    graph = nx.DiGraph([("a", "b"), ("a", "c")])
    for name in graph:
        graph.nodes[name]["task"] = step.s(node=name, sleep=1.5)  # b cannot be over when submit returns
    run = planner.submit(graph, local=True)
    assert run.status()["b"] in ("PENDING", "RUNNING")  # returned at once
    with pytest.raises(PlannerError, match="^a local run is already going in this process"):
        planner.submit(graph, local=True)
    assert any(t.name == "planner-embedded-worker" for t in threading.enumerate())
    same = planner.attach(run.id)  # the same process reaches the embedded store
    assert set(same.status()) == {"a", "b", "c"}
    report = run.wait(timeout=30)
    assert report.status == "SUCCESS" and report.run_id == run.id
    assert set(report.as_json()) == REPORT_KEYS
    assert report.nodes["b"].result["got"] == "a"
    assert not any(t.name == "planner-embedded-worker" for t in threading.enumerate())
    assert run.status() == {"a": "SUCCESS", "b": "SUCCESS", "c": "SUCCESS"}
    with planner.submit(graph, local=True) as again:
        assert again.id != run.id
    assert not any(t.name == "planner-embedded-worker" for t in threading.enumerate())


def test_submit_reports_bad_graphs_as_run_does(monkeypatch):
    from workload.tasks import app, step

    monkeypatch.setattr(app.conf, "broker_url", None)  # other tests point the shared app at their servers

    cycle = nx.DiGraph([("a", "b"), ("b", "a")])
    for name in cycle:
        cycle.nodes[name]["task"] = step.s(node=name)
    with pytest.raises(PlannerError, match="^graph: the graph has a cycle: a -> b -> a$"):
        planner.submit(cycle)
    lone = nx.DiGraph()
    lone.add_node("a", task=step.s(node="a"))
    with pytest.raises(PlannerError, match="unknown strategy 'fast'"):
        planner.submit(lone, strategy="fast")
    with pytest.raises(PlannerError, match="the app 'workload' has no broker: .* local=True"):
        planner.submit(lone)
    with pytest.raises(PlannerError, match="cannot be read by task id"):
        planner.submit(lone, broker="redis://127.0.0.1:1/0", backend="rpc://")


def test_import_planner_stays_light():
    result = python("import sys, planner; print('celery' in sys.modules, callable(planner.submit))")
    assert result.stdout.split() == ["False", "True"], result.stderr


@pytest.mark.timeout(90)
def test_status_of_a_live_run_and_a_wait_that_times_out(cluster, tmp_path):
    path = diamond(tmp_path, sleep=3.0)  # 6 s in all: a loaded machine's process start-ups fit in it
    submitted = python(SUBMIT, path, cluster)
    run_id = submitted.stdout.splitlines()[0]
    live = planner_cli("status", run_id, "--backend", cluster, "--json", tmp_path / "live.json")
    assert live.returncode == 0, live.stderr  # still running is not an error
    snapshot = read_json(tmp_path / "live.json")
    assert snapshot["status"] == "RUNNING" and snapshot["nodes"]["load"]["state"] == "UNFINISHED", snapshot
    assert "PENDING" in live.stdout and "RUNNING: 4 nodes" in live.stdout, live.stdout
    short = planner_cli("status", run_id, "--broker", cluster, "--wait", "--timeout", "0.5")
    assert short.returncode == 124, short.stdout + short.stderr
    assert short.stderr.strip().splitlines()[-1].startswith("planner: error: timed out after 0.5 s: ")
    assert short.stderr.strip().endswith("nodes finished (the run goes on)")
    report = planner.attach(run_id, broker=cluster, backend=cluster).wait(timeout=30)
    assert report.status == "SUCCESS"  # the timed-out watcher did not stop it


def test_a_backend_without_keys_cannot_keep_the_record():
    from celery import Celery

    from planner.record import RunRecord, plan_of_one, store

    app = Celery("rpc-only", broker="memory://", backend="rpc://", set_as_current=False)
    reason = store(app, RunRecord("r", {"a": "t"}, plan_of_one("a"), submitted=0.0))
    assert reason.startswith("the result backend rpc:/") and reason.endswith(
        "keeps no run records (it is not a key-value store): attaching to a run by id needs a Redis result backend "
        "(redis://...)")
    with pytest.raises(PlannerError, match="^cannot attach to run 'r': the result backend rpc:/+ keeps no run records"):
        planner.attach("r", app=app)
    from planner.report import run_id_line

    record = RunRecord("r", {"a": "t"}, plan_of_one("a"), submitted=0.0, unstored=reason)
    assert run_id_line(record) == f"run id: r  (cannot be followed elsewhere: {reason})"


@pytest.mark.timeout(90)
def test_a_run_that_times_out_ends_for_its_followers_too(cluster, tmp_path):
    """planner run --timeout cancels the run: planner status --wait in
    another terminal ends CANCELLED instead of waiting for nodes never sent."""
    path = write_graph_file(tmp_path, f"""
        from workload.tasks import step
        graph = nx.DiGraph()
        names = [f"s{{i}}" for i in range({CHAIN})]
        for name in names:
            graph.add_node(name, task=step.s(node=name, sleep=1.0))
        nx.add_path(graph, names)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]))
    ran = subprocess.Popen([sys.executable, "-m", "planner", "run", str(path), "--broker", cluster, "--strategy",
                            "exact", "--timeout", "5"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           env=env)
    first = ran.stderr.readline()
    assert first.startswith("run id: "), first
    run_id = first.split()[2]
    followed = planner_cli("status", run_id, "--broker", cluster, "--wait", "--json", tmp_path / "followed.json")
    assert ran.wait(30) == 124
    assert followed.returncode == 1, followed.stderr
    report = read_json(tmp_path / "followed.json")
    assert report["status"] == "CANCELLED"
    states = [node["state"] for node in report["nodes"].values()]
    assert states.count("SUCCESS") < CHAIN


def test_the_record_keeps_the_plan_whole():
    """What a follower rebuilds from the record is the plan that was sent:
    graph (predecessor order, attributes), tree (chains, groups, chord
    headers, gathered inputs), added dependencies, strategy."""
    from planner.planning import plan_structure
    from planner.record import RunRecord

    graph = nx.DiGraph()
    for name in "abcdefg":
        graph.add_node(name, immutable=name == "g", cost=1.0 + (name == "c"), label=f"t.{name}()")
    graph.nodes["d"]["behaviour"] = {"queue": "billing", "time_limit": 30}
    graph.add_edges_from([("a", "c"), ("a", "d"), ("b", "d"), ("c", "e"), ("d", "e"), ("a", "e"), ("e", "f"),
                          ("e", "g")])
    for strategy in ("canvas", "exact"):
        plan = plan_structure(graph, strategy, {})
        record = RunRecord("r", {name: f"id-{name}" for name in plan.graph}, plan, 12.5, {"d": "billing"},
                           {"day": "x"}, "exact-1" if strategy == "exact" else None, "somewhere", ["careful"])
        back = RunRecord.from_json(record.to_json())
        assert back.plan.root == plan.root and back.plan.added == plan.added
        assert bool(plan.added) == (strategy == "canvas")  # the graph is not series-parallel
        assert (back.plan.strategy, back.plan.reason) == (plan.strategy, plan.reason)
        assert dict(back.plan.graph.nodes(data=True)) == dict(plan.graph.nodes(data=True))
        assert [list(back.plan.graph.predecessors(n)) for n in back.plan.graph] == \
            [list(plan.graph.predecessors(n)) for n in plan.graph]
        assert (back.task_ids, back.queues["d"], back.parameters, back.exact_run, back.where, back.warnings) == \
            (record.task_ids, "billing", {"day": "x"}, record.exact_run, "somewhere", ["careful"])


@pytest.mark.timeout(120)
def test_a_run_on_rabbitmq_is_followed_and_cancelled_by_id(amqp_url, redis_url, workers, tmp_path):
    """Broker and backend apart: the record is in the Redis backend, the
    cancel goes through RabbitMQ."""
    workers("workload.tasks", amqp_url, redis_url, count=1, concurrency=2)
    client = redis.Redis.from_url(redis_url)
    run = planner.submit(chain_graph(redis_url, sleep=1.0), strategy="canvas", broker=amqp_url, backend=redis_url)
    followed = planner_cli("status", run.id, "--backend", redis_url, "--json", tmp_path / "live.json")
    assert followed.returncode == 0 and read_json(tmp_path / "live.json")["status"] == "RUNNING", followed.stderr
    planner.attach(run.id, broker=amqp_url, backend=redis_url).cancel()
    waited = planner_cli("status", run.id, "--broker", amqp_url, "--backend", redis_url, "--wait", "--timeout", "30",
                         "--json", tmp_path / "end.json")
    assert waited.returncode == 1, waited.stderr
    assert read_json(tmp_path / "end.json")["status"] == "CANCELLED"
    ran = len(client.lrange("tally", 0, -1))
    assert ran < CHAIN
    assert "guest:guest" not in waited.stdout + waited.stderr + followed.stdout
