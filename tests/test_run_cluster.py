"""``planner run`` on real clusters: Redis and RabbitMQ brokers, real
prefork ``celery worker`` processes, preflight errors, worker loss."""

from __future__ import annotations

import time

import networkx as nx
import pytest
import redis
from hypothesis import HealthCheck, Phase, given, settings
from runhelp import check_contract, killing_the_victim, planner_cli, read_json, small_dags, with_tasks, write_graph_file

from planner.run import run_graph


@pytest.mark.timeout(120)
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # shrinking real runs takes too long
@given(shape=small_dags(max_nodes=10))
def test_random_dags_keep_the_contract_on_redis(shape, redis_cluster):
    from workload.tasks import counted

    client = redis.Redis.from_url(redis_cluster)
    client.delete("tally")
    graph = with_tasks(shape, counted, sleep=0.01, tally=redis_cluster)
    report = run_graph(graph, broker=redis_cluster, backend=redis_cluster, timeout=30)
    assert report.status == "SUCCESS", report.as_json()
    results = {name: node.result for name, node in report.nodes.items()}
    runs = [value.decode() for value in client.lrange("tally", 0, -1)]
    check_contract(graph, results, runs)
    for node in report.nodes.values():
        assert node.worker and node.worker.startswith("w")  # the worker's own name, from the result store
        assert node.started is not None and node.started <= node.finished


@pytest.mark.timeout(60)
def test_failure_and_retries_on_redis(redis_cluster):
    from workload.tasks import boom, counted, flaky

    client = redis.Redis.from_url(redis_cluster)
    client.delete("counter")
    graph = nx.DiGraph([("a", "shaky"), ("shaky", "b"), ("a", "bad"), ("bad", "c"), ("c", "d")])
    graph.nodes["a"]["task"] = counted.s(node="a")
    graph.nodes["shaky"]["task"] = flaky.s(node="shaky", counter=redis_cluster)
    graph.nodes["b"]["task"] = counted.s(node="b")
    graph.nodes["bad"]["task"] = boom.s(node="bad")
    graph.nodes["c"]["task"] = counted.s(node="c")
    graph.nodes["d"]["task"] = counted.s(node="d")
    report = run_graph(graph, broker=redis_cluster, backend=redis_cluster, timeout=30)
    states = {name: node.state for name, node in report.nodes.items()}
    assert states == {"a": "SUCCESS", "shaky": "SUCCESS", "b": "SUCCESS", "bad": "FAILURE", "c": "SKIPPED",
                      "d": "SKIPPED"}
    assert report.nodes["shaky"].result["attempt"] == 3
    assert report.nodes["b"].result["got"] == "shaky"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["canvas", "exact"])
def test_a_timeout_stops_the_run_on_the_cluster(redis_cluster, strategy):
    """After --timeout nothing more starts: the canvas's unfinished task ids
    are revoked, and an exact run (whose chain travels as one segment
    message, the nodes run inline) is cancelled before its next node."""
    from workload.tasks import counted

    client = redis.Redis.from_url(redis_cluster)
    client.delete("tally")
    names = [f"s{i}" for i in range(12)]
    graph = nx.DiGraph()
    for name in names:
        graph.add_node(name, task=counted.s(node=name, sleep=0.25, tally=redis_cluster))
    nx.add_path(graph, names)
    report = run_graph(graph, broker=redis_cluster, backend=redis_cluster, strategy=strategy, timeout=1.0)
    assert report.status == "TIMEOUT"
    time.sleep(2.0)  # the whole chain would be 3 s: long enough to see it go on
    ran = len(client.lrange("tally", 0, -1))
    assert ran <= 6, f"{ran} of 12 nodes ran after a 1 s timeout"
    time.sleep(1.0)
    assert len(client.lrange("tally", 0, -1)) == ran  # and nothing more


PASSWORD_BROKER = "redis://:hunter2@127.0.0.1:{port}/0"


@pytest.mark.timeout(30)
def test_dead_broker_is_one_line_with_the_password_masked(tmp_path):
    from servers import free_port

    path = write_graph_file(tmp_path, """
        from workload.tasks import step
        graph = nx.DiGraph()
        graph.add_node("a", task=step.s(node="a"))
    """)
    result = planner_cli("run", path, "--broker", PASSWORD_BROKER.format(port=free_port()), timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: cannot reach the broker at redis://:**@")
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.timeout(30)
def test_no_worker_is_one_line(tmp_path, redis_url):
    path = write_graph_file(tmp_path, """
        from workload.tasks import step
        graph = nx.DiGraph()
        graph.add_node("a", task=step.s(node="a"))
    """)
    result = planner_cli("run", path, "--broker", redis_url, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Celery worker answered" in lines[0], result.stderr


@pytest.mark.timeout(60)
def test_unregistered_task_is_one_line(tmp_path, redis_url, workers):
    workers("workload.tasks", redis_url, redis_url)  # they never import the graph's own tasks module
    (tmp_path / "lonely.py").write_text(
        "from celery import Celery\napp = Celery('lonely')\n\n@app.task\ndef alone():\n    return 1\n")
    path = write_graph_file(tmp_path, """
        from lonely import alone
        graph = nx.DiGraph()
        graph.add_node("a", task=alone.si())
    """)
    result = planner_cli("run", path, "--broker", redis_url, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["planner: error: no live worker has the task 'lonely.alone' registered"], result.stderr


@pytest.mark.timeout(30)
def test_amqp_broker_without_backend_asks_for_one(tmp_path):
    path = write_graph_file(tmp_path, """
        from workload.tasks import step
        graph = nx.DiGraph()
        graph.add_node("a", task=step.s(node="a"))
    """)
    result = planner_cli("run", path, "--broker", "amqp://guest:secret@127.0.0.1:5672//", timeout=30)
    assert result.returncode == 2
    assert "--backend redis://" in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(90)
def test_etl_on_rabbitmq_with_redis_backend(amqp_url, redis_url, tmp_path):
    """The ETL example through the CLI with --workers: RabbitMQ carries the
    messages, Redis keeps the results, two local prefork workers run them."""
    out = tmp_path / "etl.json"
    result = planner_cli("run", "examples/etl/graph.py", "--broker", amqp_url, "--backend", redis_url,
                         "--workers", "2", "--json", out, timeout=80)
    assert result.returncode == 0, result.stdout + result.stderr
    report = read_json(out)
    assert report["nodes"]["notify"]["result"] == "loaded 2300 rows"
    assert {node["worker"].split("@")[0][:8] for node in report["nodes"].values()} <= {"planner0", "planner1"}
    assert "guest:guest" not in result.stdout + result.stderr


@pytest.mark.timeout(90)
def test_small_dag_on_rabbitmq(amqp_url, redis_url, workers):
    from workload.tasks import counted

    shape = nx.DiGraph([(0, 2), (1, 2), (0, 3), (2, 4), (3, 4), (0, 4)])
    graph = with_tasks(shape, counted, tally=redis_url)
    workers("workload.tasks", amqp_url, redis_url, count=1, concurrency=3)
    report = run_graph(graph, broker=amqp_url, backend=redis_url, timeout=30)
    assert report.status == "SUCCESS", report.as_json()
    runs = [v.decode() for v in redis.Redis.from_url(redis_url).lrange("tally", 0, -1)]
    check_contract(graph, {n: node.result for n, node in report.nodes.items()}, runs)


@pytest.mark.timeout(120)
def test_losing_a_worker_mid_task_still_completes(redis_url, workers):
    """SIGKILL the worker running a node: its message, acknowledged late,
    goes back to the queue and the other worker runs it."""
    from workload.fragile import sturdy, victim

    group = workers("workload.fragile", redis_url, redis_url, count=2, concurrency=2)
    graph = nx.DiGraph([("a", "doomed"), ("a", "side"), ("doomed", "end"), ("side", "end")])
    graph.nodes["a"]["task"] = sturdy.s(node="a", tally=redis_url)
    graph.nodes["doomed"]["task"] = victim.s(node="doomed", redis_url=redis_url)
    graph.nodes["side"]["task"] = sturdy.s(node="side", tally=redis_url)
    graph.nodes["end"]["task"] = sturdy.s(node="end", tally=redis_url)
    client = redis.Redis.from_url(redis_url)
    with killing_the_victim(redis_url, group):
        report = run_graph(graph, broker=redis_url, backend=redis_url, timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    runs = [v.decode() for v in client.lrange("tally", 0, -1)]
    assert sorted(runs) == ["a", "doomed", "doomed", "end", "side"]  # only the lost node ran twice
    assert report.nodes["end"].result["got"] == ["doomed", "side"]
    assert report.nodes["doomed"].result["got"] == "a"


@pytest.mark.timeout(30)
def test_dead_result_backend_is_one_line(tmp_path, redis_url):
    from servers import free_port

    path = write_graph_file(tmp_path, """
        from workload.tasks import step
        graph = nx.DiGraph()
        graph.add_node("a", task=step.s(node="a"))
    """)
    dead = f"redis://:topsecret@127.0.0.1:{free_port()}/1"
    result = planner_cli("run", path, "--broker", redis_url, "--backend", dead, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the result backend at redis://:**@" in lines[0], result.stderr
    assert "topsecret" not in result.stderr
