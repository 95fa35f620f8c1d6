"""Where a plan's messages go, resolved as Celery resolves them (task
options, ``queue=`` on the signature, ``task_routes`` maps and globs,
``task_default_queue``), what each node will do beyond its call, and the
embedded worker consuming all of it."""

from __future__ import annotations

import networkx as nx
import pytest
from celery import Celery

from planner.behaviour import behaviour_text, node_behaviours
from planner.planning import make_plan
from planner.routing import consumed_queues, plan_queues, queue_of_nodes
from planner.run import run_graph

app = Celery("routes", set_as_current=False)
app.conf.update(task_default_queue="work", task_soft_time_limit=30,
                task_routes=[{"routes.routed_*": {"queue": "globbed"}}, {"planner.*": "helpers"}])


@app.task(name="routes.plain")
def plain(*upstream, node):
    return node


@app.task(name="routes.slow", queue="slow", time_limit=60)
def slow(*upstream, node):
    return node


@app.task(name="routes.routed_one")
def routed_one(*upstream, node):
    return node


@app.task(name="routes.backing_off", autoretry_for=(ValueError, KeyError), retry_backoff=2, max_retries=5)
def backing_off(*upstream, node):
    return node


@app.task(name="routes.manual", bind=True, max_retries=10)
def manual(self, *upstream, node):
    return node


def graph() -> nx.DiGraph:
    g = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("e", "f"), ("a", "g")])
    tasks = {"a": plain.s(node="a"), "b": slow.s(node="b"), "c": routed_one.s(node="c"),
             "d": plain.s(node="d").set(queue="adhoc", soft_time_limit=5), "e": backing_off.s(node="e"),
             "f": manual.s(node="f"), "g": plain.s(node="g")}
    for name, sig in tasks.items():
        g.nodes[name]["task"] = sig
    return g


def test_each_node_goes_where_celery_routes_it():
    g = graph()
    signatures = {name: g.nodes[name]["task"] for name in g}
    plan = make_plan(g, "canvas")
    queues = plan_queues(app, plan, signatures)
    assert queue_of_nodes(queues) == {"a": "work", "b": "slow", "c": "globbed", "d": "adhoc", "e": "work",
                                      "f": "work", "g": "work"}
    assert consumed_queues(app, plan, signatures)[0] == "work"  # the default queue first
    exact = make_plan(g, "exact")
    assert "helpers" in plan_queues(app, exact, signatures)  # planner.exact.segment follows task_routes too
    assert set(consumed_queues(app, exact, signatures)) == {"work", "slow", "globbed", "adhoc", "helpers"}


def test_what_each_node_will_do_beyond_its_call():
    g = graph()
    found = node_behaviours({name: g.nodes[name]["task"] for name in g})
    assert found["a"] == {"soft_time_limit": 30}  # the app-wide soft limit
    assert found["b"] == {"queue": "slow", "time_limit": 60, "soft_time_limit": 30}
    assert found["c"]["queue"] == "globbed"
    assert found["d"] == {"queue": "adhoc", "soft_time_limit": 5}  # the signature's own option wins
    assert found["e"]["retry"] == {"on": ["ValueError", "KeyError"], "max_retries": 5, "backoff": 2,
                                   "backoff_max": 600, "jitter": True}
    assert found["f"]["retry"] == {"max_retries": 10}
    assert behaviour_text(found["b"]) == "queue slow, time limit 60 s (soft 30 s)"
    assert behaviour_text({"retry": found["e"]["retry"]}) == \
        "retries: up to 5 on ValueError, KeyError, backoff from 2 s"
    assert behaviour_text({"retry": found["f"]["retry"]}) == "max_retries 10"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["canvas", "exact"])
def test_the_embedded_worker_consumes_every_routed_queue(strategy):
    report = run_graph(graph(), local=True, strategy=strategy, timeout=20, stall_timeout=10)
    assert report.status == "SUCCESS", report.as_json()
    assert "queues work, " in report.where
    assert app.amqp.queues.consume_from is None or "slow" not in app.amqp.queues.consume_from  # put back after
