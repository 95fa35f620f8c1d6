"""Exact dispatch (planner.exact) on real workers: the embedded worker
(threads pool, in-memory broker and store) and prefork ``celery worker``
processes on Redis. Runs are driven through ``exact.submit`` directly and
followed by task id, as the runner does."""

from __future__ import annotations

import time
from datetime import timedelta

import networkx as nx
import pytest
import redis
from celery import uuid
from hypothesis import HealthCheck, given, settings
from runhelp import check_contract, killing_the_victim, small_dags, with_tasks
from servers import Workers

from planner import exact
from planner.embedded import configure_in_memory, embedded_worker, forget_connections
from planner.errors import PlannerError
from planner.planning import make_plan, signatures
from planner.store import DAY, kept_for

FINAL = {"SUCCESS", "FAILURE", "REVOKED"}


def point_at(app, broker: str, backend: str) -> None:
    forget_connections(app)
    app.conf.update(broker_url=broker, result_backend=backend, broker_transport_options={})


def submit_exact(app, graph: nx.DiGraph) -> dict[str, str]:
    plan = make_plan(graph, "exact")
    assert plan.strategy == "exact" and plan.added == ()
    task_ids = {name: uuid() for name in plan.graph}
    exact.submit(plan, signatures(graph), app, task_ids)
    return task_ids


def wait_for(app, task_ids: dict[str, str], names, timeout: float = 30) -> dict[str, dict]:
    """The metas of ``names`` once each is final (SUCCESS/FAILURE)."""
    deadline = time.monotonic() + timeout
    metas: dict[str, dict] = {}
    while True:
        for name in names:
            if name not in metas:
                meta = app.backend.get_task_meta(task_ids[name])
                if meta.get("status") in FINAL:
                    metas[name] = meta
        if len(metas) == len(list(names)):
            return metas
        if time.monotonic() > deadline:
            missing = sorted(set(names) - set(metas))
            raise AssertionError(f"not finished in {timeout} s: {missing}")
        time.sleep(0.01)


def run_exact(app, graph: nx.DiGraph, timeout: float = 30) -> dict[str, dict]:
    """Run every node; their results by name (all must succeed)."""
    task_ids = submit_exact(app, graph)
    metas = wait_for(app, task_ids, [str(n) for n in graph], timeout)
    assert all(m["status"] == "SUCCESS" for m in metas.values()), metas
    return {name: meta["result"] for name, meta in metas.items()}


def n_shape(task, slow: str, sleep: float) -> nx.DiGraph:
    """a → c, a → d, b → d, with ``slow`` sleeping."""
    graph = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")])
    for node in graph:
        graph.nodes[node]["task"] = task.s(node=node, sleep=sleep if node == slow else 0.0)
    return graph


# --- the embedded worker ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded_app():
    from workload.tasks import app

    configure_in_memory(app)
    with embedded_worker(app, concurrency=8):
        yield app


@pytest.mark.timeout(90)
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(shape=small_dags(max_nodes=10))
def test_random_dags_keep_the_contract_embedded(shape, embedded_app, tmp_path_factory):
    from workload.tasks import counted

    tally = tmp_path_factory.mktemp("tally") / "runs.txt"
    graph = with_tasks(shape, counted, sleep=0.005, tally=str(tally))
    results = run_exact(embedded_app, graph)
    check_contract(graph, results, tally.read_text().split())


@pytest.mark.timeout(60)
def test_no_node_waits_for_a_node_it_does_not_depend_on_embedded(embedded_app):
    from workload.tasks import step

    results = run_exact(embedded_app, n_shape(step, "b", 1.5))
    assert results["c"]["end"] < results["b"]["end"] - 1.0, "c waited for b"
    assert results["d"]["start"] >= results["b"]["end"]
    assert results["d"]["got"] == ["a", "b"]


# --- Redis and prefork workers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_cluster(redis_base_url):
    """Db 0 (never handed out by ``redis_url``) with two workload workers."""
    from workload.tasks import app

    url = f"{redis_base_url}/0"
    redis.Redis.from_url(url).flushdb()
    with Workers("workload.tasks", url, url, count=2, concurrency=3):
        point_at(app, url, url)
        yield app, url


@pytest.mark.timeout(90)
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(shape=small_dags(max_nodes=10))
def test_random_dags_keep_the_contract_on_redis(shape, redis_cluster):
    from workload.tasks import counted

    app, url = redis_cluster
    client = redis.Redis.from_url(url)
    client.delete("tally")
    graph = with_tasks(shape, counted, sleep=0.005, tally=url)
    results = run_exact(app, graph)
    check_contract(graph, results, [v.decode() for v in client.lrange("tally", 0, -1)])


@pytest.mark.timeout(60)
def test_no_node_waits_for_a_node_it_does_not_depend_on_redis(redis_cluster):
    from workload.tasks import step

    app, _ = redis_cluster
    results = run_exact(app, n_shape(step, "b", 1.5))
    assert results["c"]["end"] < results["b"]["end"] - 1.0, "c waited for b"
    assert results["d"]["start"] >= results["b"]["end"]
    assert results["d"]["got"] == ["a", "b"]


@pytest.mark.timeout(60)
def test_a_failure_stops_its_descendants_only(redis_cluster):
    from workload.tasks import boom, counted

    app, url = redis_cluster
    client = redis.Redis.from_url(url)
    client.delete("tally")
    # bad fails; after/last/joined depend on it; good/fine/side do not.
    graph = nx.DiGraph([("root", "bad"), ("bad", "after"), ("after", "last"), ("root", "good"),
                        ("good", "fine"), ("bad", "joined"), ("good", "joined"), ("root", "side")])
    for node in graph:
        graph.nodes[node]["task"] = (boom.s(node=node) if node == "bad"
                                     else counted.s(node=node, sleep=0.01, tally=url))
    task_ids = submit_exact(app, graph)
    metas = wait_for(app, task_ids, ["root", "bad", "good", "fine", "side"])
    assert metas["bad"]["status"] == "FAILURE"
    assert all(metas[n]["status"] == "SUCCESS" for n in ("root", "good", "fine", "side"))
    time.sleep(0.5)  # time enough for anything wrongly sent to have run
    for node in ("after", "last", "joined"):
        assert app.backend.get_task_meta(task_ids[node])["status"] == "PENDING", node
    runs = sorted(v.decode() for v in client.lrange("tally", 0, -1))
    assert runs == ["fine", "good", "root", "side"]


@pytest.mark.timeout(60)
def test_a_retried_node_still_advances_the_run(redis_cluster, tmp_path):
    from workload.tasks import flaky, step

    app, _ = redis_cluster
    graph = nx.DiGraph([("a", "shaky"), ("shaky", "z"), ("a", "z")])
    graph.nodes["a"]["task"] = step.s(node="a")
    graph.nodes["shaky"]["task"] = flaky.s(node="shaky", counter=str(tmp_path / "count"), failures=2)
    graph.nodes["z"]["task"] = step.s(node="z")
    results = run_exact(app, graph)
    assert results["shaky"]["attempt"] == 3
    assert results["z"]["got"] == [str(p) for p in graph.predecessors("z")]


@pytest.mark.timeout(120)
def test_losing_a_worker_mid_task_runs_each_successor_once(redis_url, workers):
    """SIGKILL the worker running a node (acks_late): the node is redelivered
    to the other worker, runs again, and its successors are sent once."""
    from workload.fragile import app, sturdy, victim

    group = workers("workload.fragile", redis_url, redis_url, count=2, concurrency=2)
    forget_connections(app)
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    graph = nx.DiGraph([("a", "doomed"), ("a", "side"), ("doomed", "end"), ("side", "end"), ("doomed", "after")])
    for node in graph:
        graph.nodes[node]["task"] = (victim.s(node=node, redis_url=redis_url) if node == "doomed"
                                     else sturdy.s(node=node, tally=redis_url))
    client = redis.Redis.from_url(redis_url)
    with killing_the_victim(redis_url, group):
        results = run_exact(app, graph, timeout=60)
    runs = sorted(v.decode() for v in client.lrange("tally", 0, -1))
    assert runs == ["a", "after", "doomed", "doomed", "end", "side"]  # only the lost node ran twice
    assert results["end"]["got"] == ["doomed", "side"]
    assert results["after"]["got"] == "doomed"


@pytest.mark.timeout(120)
def test_losing_a_worker_mid_segment_resumes_the_segment(redis_url, workers):
    """A linear run of nodes travels in one segment message; SIGKILL the
    worker in its middle: the redelivered segment skips the nodes already
    stored and goes on from the lost one."""
    from workload.fragile import app, sturdy, victim

    group = workers("workload.fragile", redis_url, redis_url, count=2, concurrency=2)
    forget_connections(app)
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    graph = nx.DiGraph()
    nx.add_path(graph, ["a", "b", "doomed", "c", "d"])
    for node in graph:
        graph.nodes[node]["task"] = (victim.s(node=node, redis_url=redis_url) if node == "doomed"
                                     else sturdy.s(node=node, tally=redis_url))
    client = redis.Redis.from_url(redis_url)
    with killing_the_victim(redis_url, group):
        results = run_exact(app, graph, timeout=60)
    runs = sorted(v.decode() for v in client.lrange("tally", 0, -1))
    assert runs == ["a", "b", "c", "d", "doomed", "doomed"]
    assert [results[n]["got"] for n in ("a", "b", "doomed", "c", "d")] == [None, "a", "b", "doomed", "c"]
    assert len({results[n]["pid"] for n in ("c", "d")}) == 1  # c and d ran in one segment message


@pytest.mark.timeout(30)
def test_a_redelivered_success_sends_nothing_twice(redis_url):
    """Advancing past the same node twice (a task run twice) sends its
    successors once: arrivals are a set, the send is claimed with SET NX."""
    from workload.tasks import app, step

    point_at(app, redis_url, redis_url)  # no workers: messages stay queued
    graph = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")])
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node)
    submit_exact(app, graph)
    client = redis.Redis.from_url(redis_url)
    assert client.llen("celery") == 2  # the roots a and b
    run = client.keys(f"{exact.KEY_PREFIX}:*:spec:0")[0].decode().split(":")[1]
    index = {str(n): i for i, n in enumerate(make_plan(graph, "exact").graph)}
    assert exact.advance(app, run, index["a"], {"node": "a"}) == ["c"]
    assert exact.advance(app, run, index["a"], {"node": "a"}) == []
    assert client.llen("celery") == 3
    ttl = client.ttl(f"{exact.KEY_PREFIX}:{run}:arrived:{index['d']}")
    assert 0 < ttl <= kept_for(app.backend)


@pytest.mark.parametrize("expires, kept", [(None, 1), (timedelta(hours=1), 1), (timedelta(days=3), 3), (7 * DAY, 7)])
def test_a_runs_own_keys_live_as_long_as_its_results(redis_url, expires, kept):
    """Exact dispatch's state and the journal expire with the results
    (result_expires), never within a day: a run that outlived them would
    stop."""
    from celery import Celery

    from planner.journal import journal_for

    app = Celery("kept", broker=redis_url, backend=redis_url)
    app.conf.result_expires = expires
    assert exact._store_for(app).expires == journal_for(app).expires == kept * DAY


@pytest.mark.timeout(30)
def test_a_node_lost_between_claim_and_send_sends_on_redelivery(redis_url, monkeypatch):
    """The worker dies after claiming a successor and before sending it: the
    node's redelivered message owns the same claim and sends it, once."""
    from workload.tasks import app, step

    point_at(app, redis_url, redis_url)  # no workers: messages stay queued
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node).set(queue="own")  # own messages, no segment
    submit_exact(app, graph)
    client = redis.Redis.from_url(redis_url)
    run = client.keys(f"{exact.KEY_PREFIX}:*:spec:0")[0].decode().split(":")[1]
    index = {str(n): i for i, n in enumerate(make_plan(graph, "exact").graph)}
    queued = client.llen("own")
    real_publish = exact._publish

    def die(*args, **kwargs):
        raise SystemExit("worker lost")

    monkeypatch.setattr(exact, "_publish", die)
    with pytest.raises(SystemExit):
        exact.advance(app, run, index["a"], {"node": "a"})
    monkeypatch.setattr(exact, "_publish", real_publish)
    assert exact.advance(app, run, index["a"], {"node": "a"}) == ["b"]  # the redelivered a
    assert exact.advance(app, run, index["a"], {"node": "a"}) == []  # and never again
    assert client.llen("own") == queued + 1


@pytest.mark.timeout(30)
def test_a_successor_that_cannot_be_sent_fails_and_the_others_go(redis_url, monkeypatch):
    """A publish error while advancing (broker gone, message refused) fails
    that successor, naming it, instead of leaving it claimed and never sent;
    the other successors are sent."""
    from kombu.exceptions import OperationalError
    from workload.tasks import app, step

    point_at(app, redis_url, redis_url)  # no workers: messages stay queued
    graph = nx.DiGraph([("a", "b"), ("a", "c")])
    for node in graph:
        graph.nodes[node]["task"] = step.s(node=node).set(queue="own")  # own messages, no segment
    task_ids = submit_exact(app, graph)
    client = redis.Redis.from_url(redis_url)
    run = client.keys(f"{exact.KEY_PREFIX}:*:spec:0")[0].decode().split(":")[1]
    index = {str(n): i for i, n in enumerate(make_plan(graph, "exact").graph)}
    real_publish = exact._publish

    def refuse_b(app, run, spec, *args, **kwargs):
        if spec["name"] == "b":
            raise OperationalError("connection refused")
        return real_publish(app, run, spec, *args, **kwargs)

    monkeypatch.setattr(exact, "_publish", refuse_b)
    assert exact.advance(app, run, index["a"], {"node": "a"}) == ["c"]
    assert exact.advance(app, run, index["a"], {"node": "a"}) == []  # b is failed, not sent later
    meta = app.backend.get_task_meta(task_ids["b"])
    assert meta["status"] == "FAILURE"
    assert "could not send node 'b'" in str(meta["result"])
    assert app.backend.get_task_meta(task_ids["c"])["status"] == "PENDING"  # c was sent, waits for a worker


@pytest.mark.timeout(60)
def test_messages_stay_the_same_size_however_long_the_graph(redis_url):
    """The root's message of a 2000-step chain is as small as a 2-step one's
    (Celery's own chain carries every remaining step)."""
    from celery import chain
    from workload.tasks import app, step

    point_at(app, redis_url, redis_url)  # no workers: messages stay queued
    client = redis.Redis.from_url(redis_url)

    def root_message_bytes(length: int) -> int:
        graph = nx.DiGraph()
        nx.add_path(graph, [f"n{i:04d}" for i in range(length)])
        for node in graph:
            graph.nodes[node]["task"] = step.s(node=node)
        client.delete("celery")
        submit_exact(app, graph)
        return len(client.lindex("celery", 0))

    small, large = root_message_bytes(2), root_message_bytes(2000)
    assert large <= small + 16
    client.delete("celery")
    chain(*(step.s(node=f"n{i:04d}") for i in range(2000))).apply_async()
    assert len(client.lindex("celery", 0)) > 50 * large


# --- support, strategy choice ------------------------------------------------------------------------------


def test_check_support_refuses_other_backends_in_one_line():
    from celery import Celery

    app = Celery("probe", broker="memory://", backend="rpc://")
    with pytest.raises(PlannerError) as info:
        exact.check_support(app)
    assert str(info.value).startswith("exact dispatch needs a Redis or in-memory (embedded) result backend; got rpc://")
    assert "\n" not in str(info.value)
    app = Celery("probe", broker="memory://", backend="redis://:secret@127.0.0.1:1/0")
    exact.check_support(app)  # no connection needed to tell
    app = Celery("probe", broker="memory://", backend="db+sqlite:///x.db")
    with pytest.raises(PlannerError, match="got db\\+sqlite"):
        exact.check_support(app)


def test_check_support_masks_credentials():
    from celery import Celery

    app = Celery("probe", broker="memory://", backend="mongodb://user:secret@localhost/db")
    with pytest.raises(PlannerError) as info:
        exact.check_support(app)
    assert "secret" not in str(info.value)
