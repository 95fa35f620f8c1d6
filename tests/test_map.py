"""Map nodes (``map=True``): one task call per item of the predecessor's
list, on real workers: the embedded worker and prefork ``celery worker``
processes on Redis, under exact dispatch (what ``auto`` picks) and the
canvas (``planner.map``, Celery's "dmap" pattern); validation, plan and
render output, and the ``--format python`` source in a plain process."""

from __future__ import annotations

import json
import subprocess
import sys

import networkx as nx
import pytest
from runhelp import ROOT, TESTS, planner_cli, read_json, write_graph_file

from planner.mapping import item_task_id
from planner.run import run_graph


def mapped(count: int, fail_on=None, fan_in: bool = False) -> nx.DiGraph:
    """numbers(count) → square (map) → echo; with ``fan_in``, square and a
    second list both feed ``join``."""
    from workload.tasks import echo, numbers, square

    graph = nx.DiGraph()
    graph.add_node("numbers", task=numbers.si(count))
    graph.add_node("square", task=square.s(fail_on=fail_on), map=True)
    graph.add_node("after", task=echo.s())
    graph.add_edge("numbers", "square")
    graph.add_edge("square", "after")
    if fan_in:
        graph.add_node("other", task=numbers.si(2))
        graph.add_node("join", task=echo.s())
        graph.add_edge("square", "join")
        graph.add_edge("other", "join")
    return graph


def check_success(report, count: int) -> None:
    assert report.status == "SUCCESS", report.as_json()
    squares = [n * n for n in range(count)]
    node = report.nodes["square"]
    assert node.result == squares
    assert report.nodes["after"].result == squares
    assert node.items == count
    entry = report.as_json()["nodes"]["square"]["map"]
    assert entry["items"] == count
    assert entry["task_ids"] == [item_task_id(node.task_id, k) for k in range(count)]
    assert "map" not in report.as_json()["nodes"]["numbers"]


def check_failure(report, count: int, failing: int) -> None:
    assert report.status == "FAILURE"
    node = report.nodes["square"]
    assert node.state == "FAILURE"
    assert node.error.startswith(f"MapItemFailed: item {failing} of {count} failed (task "
                                 f"{item_task_id(node.task_id, failing)}): ValueError: item {failing} failed on "
                                 "purpose"), node.error
    assert report.nodes["after"].state == "SKIPPED"
    assert report.nodes["after"].reason == "after 'square' failed"
    assert report.nodes["other"].state == "SUCCESS"  # not downstream of the failure: runs on
    assert report.nodes["join"].state == "SKIPPED"


# --- the embedded worker -----------------------------------------------------------------------------------


# Celery joins a chord on the embedded (key-value) store by restoring the whole group at every member:
# quadratic, 40 s for 1,000 items on a loaded machine. The canvas map is a chord, so it gets 300 here.
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("count", "strategy"), [(0, "auto"), (1, "auto"), (1000, "auto"), (0, "canvas"),
                                                 (1, "canvas"), (300, "canvas")])
def test_map_runs_once_per_item_embedded(count, strategy):
    report = run_graph(mapped(count), local=True, strategy=strategy, timeout=90)
    assert report.plan.strategy == ("exact" if strategy == "auto" else "canvas")
    check_success(report, count)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_map_feeds_a_fan_in_embedded(strategy):
    report = run_graph(mapped(5, fan_in=True), local=True, strategy=strategy, timeout=30)
    check_success(report, 5)
    assert report.nodes["join"].result == [[0, 1, 4, 9, 16], [0, 1]]  # graph.predecessors order


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_a_failing_item_fails_the_node_and_skips_its_descendants_embedded(strategy):
    report = run_graph(mapped(6, fail_on=3, fan_in=True), local=True, strategy=strategy, timeout=30)
    check_failure(report, 6, 3)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_a_map_over_something_else_than_a_list_fails_naming_the_node(strategy):
    from workload.tasks import echo

    graph = mapped(3)
    graph.nodes["numbers"]["task"] = echo.si({"not": "a list"})
    report = run_graph(graph, local=True, strategy=strategy, timeout=30)
    assert report.nodes["square"].state == "FAILURE"
    assert "map node 'square' needs a list from its predecessor, got dict" in report.nodes["square"].error
    assert report.nodes["after"].state == "SKIPPED"


# --- Redis, prefork workers --------------------------------------------------------------------------------


@pytest.mark.timeout(180)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
@pytest.mark.parametrize("count", [0, 1, 1000])
def test_map_runs_once_per_item_on_redis(count, strategy, redis_cluster):
    report = run_graph(mapped(count), broker=redis_cluster, backend=redis_cluster, strategy=strategy, timeout=120)
    check_success(report, count)
    assert report.nodes["square"].worker.startswith("w")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_map_feeds_a_fan_in_and_a_failing_item_fails_it_on_redis(strategy, redis_cluster):
    report = run_graph(mapped(5, fan_in=True), broker=redis_cluster, backend=redis_cluster, strategy=strategy,
                       timeout=60)
    check_success(report, 5)
    assert report.nodes["join"].result == [[0, 1, 4, 9, 16], [0, 1]]
    report = run_graph(mapped(6, fail_on=3, fan_in=True), broker=redis_cluster, backend=redis_cluster,
                       strategy=strategy, timeout=60)
    check_failure(report, 6, 3)


@pytest.mark.timeout(120)
def test_format_python_source_runs_in_a_plain_process_on_redis(redis_cluster, tmp_path):
    path = write_graph_file(tmp_path, """
        from workload.tasks import echo, numbers, square
        graph = nx.DiGraph()
        graph.add_node("numbers", task=numbers.si(7))
        graph.add_node("square", task=square.s(), map=True)
        graph.add_node("other", task=numbers.si(2))
        graph.add_node("join", task=echo.s())
        graph.add_edges_from([("numbers", "square"), ("square", "join"), ("other", "join")])
    """)
    result = planner_cli("plan", path, "--format", "python")
    assert result.returncode == 0, result.stderr
    source = tmp_path / "canvas.py"
    source.write_text(result.stdout)
    assert "from planner.tasks import map_items" in result.stdout
    driver = (f"from workload.tasks import app\napp.conf.update(broker_url={redis_cluster!r}, "
              f"result_backend={redis_cluster!r})\nnamespace = {{}}\n"
              f"exec(open({str(source)!r}).read(), namespace)\n"
              "import json\nprint(json.dumps(namespace['canvas'].apply_async().get(timeout=60)))\n")
    env = {"PYTHONPATH": f"{ROOT}:{TESTS}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[0, 1, 4, 9, 16, 25, 36], [0, 1]]


# --- validation, plan and render -----------------------------------------------------------------------------

BAD_MAPS = [
    ("g.add_node('b', task=square.si(2), map=True)\ng.add_edge('a', 'b')",
     "node 'b': map=True calls the task with each item as its first argument: use .s(), not .si()"),
    ("g.add_node('b', task=square.s(), map=True)",
     "node 'b': map=True needs exactly one predecessor (whose result is the list to map over), it has 0"),
    ("g.add_node('b', task=echo.s(), map=True)\ng.add_edge('a', 'b')\ng.add_node('c', task=numbers.si(1))\n"
     "g.add_edge('c', 'b')",
     "node 'b': map=True needs exactly one predecessor (whose result is the list to map over), it has 2"),
    ("g.add_node('b', task=square.s(), map='yes')\ng.add_edge('a', 'b')",
     "node 'b': 'map' must be True or False, got 'yes'"),
]


@pytest.mark.parametrize(("body", "message"), BAD_MAPS)
def test_bad_map_nodes_are_one_line_errors(body, message, tmp_path):
    path = write_graph_file(tmp_path, "from workload.tasks import echo, numbers, square\ng = nx.DiGraph()\n"
                                      "g.add_node('a', task=numbers.si(3))\n" + body + "\ngraph = g\n")
    for command in ("plan", "run"):
        result = planner_cli(command, path, *(["--local"] if command == "run" else []))
        assert result.returncode == 2, result
        assert result.stderr.strip().splitlines() == [f"planner: error: {path}: {message}"]


def test_node_link_json_map_field(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"nodes": [{"id": "a", "task": "workload.tasks.numbers", "args": [3],
                                           "immutable": True},
                                          {"id": "b", "task": "workload.tasks.square", "map": True}],
                                "links": [{"source": "a", "target": "b"}]}))
    result = planner_cli("run", path, "--local", "--json", tmp_path / "run.json")
    assert result.returncode == 0, result.stderr
    assert read_json(tmp_path / "run.json")["nodes"]["b"]["result"] == [0, 1, 4]
    path.write_text(path.read_text().replace('"map": true', '"map": 1'))
    result = planner_cli("plan", path)
    assert result.returncode == 2
    assert "node 'b': 'map' must be true or false, got 1 (a number)" in result.stderr


def mapped_plan(names):
    """A chain of awkwardly named nodes, every other one a map node."""
    from test_render import awkward_plan

    plan = awkward_plan(names)
    for i, name in enumerate(names):
        if i % 2 and not plan.graph.nodes[name].get("immutable"):
            plan.graph.nodes[name]["map"] = True
    return plan


def test_map_nodes_are_stacked_boxes_in_real_mermaid(real_mermaid):
    from test_render import MERMAID_AWKWARD, check_mermaid

    from planner.render import to_mermaid

    plan = mapped_plan(MERMAID_AWKWARD)
    text = to_mermaid(plan)
    assert text.count("shape: procs") == 1 + sum(bool(plan.graph.nodes[n].get("map")) for n in plan.graph)
    check_mermaid(plan, text, real_mermaid)


MAP_GRAPH = """
    from workload.tasks import echo, numbers, square
    graph = nx.DiGraph()
    graph.add_node("numbers", task=numbers.si(7))
    graph.add_node("square", task=square.s(), map=True)
    graph.add_node("after", task=echo.s())
    graph.add_edges_from([("numbers", "square"), ("square", "after")])
"""


def test_plan_shows_the_map_node_in_text_and_json(tmp_path):
    path = write_graph_file(tmp_path, MAP_GRAPH)
    text = planner_cli("plan", path)
    assert text.returncode == 0, text.stderr
    assert "  square  workload.tasks.square()  [map: once per item of its input, in parallel]" in text.stdout
    assert "map nodes:       1 (square: once per item of a list known at run time)" in text.stdout
    assert "strategy:        exact — map node square: the items are known only at run time" in text.stdout
    data = json.loads(planner_cli("plan", path, "--format", "json").stdout)
    assert data["nodes"] == {"square": {"map": True}}
    assert data["summary"]["map_nodes"] == ["square"] and data["summary"]["strategy"] == "exact"
    canvas = json.loads(planner_cli("plan", path, "--format", "json", "--strategy", "canvas").stdout)
    assert canvas["summary"]["strategy"] == "canvas"
    assert canvas["summary"]["reason"].endswith(
        "; map node square sent as planner.map, which replaces itself with a chord over the items")


def test_render_draws_a_stacked_box_and_the_item_count_after_a_run(tmp_path):
    import shutil

    if not shutil.which("dot"):
        pytest.skip("Graphviz's dot is not installed (make installs it)")
    path = write_graph_file(tmp_path, MAP_GRAPH)
    result = planner_cli("render", path, "-o", tmp_path / "plan.dot")
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "plan.dot").read_text()
    assert '"square" [label="square\\nworkload.tasks.square()\\nmap: once per item"' in source
    assert source.count("shape=box3d") == 1 and "stacked box: map node" in source
    assert planner_cli("render", path, "-o", tmp_path / "plan.svg").returncode == 0
    assert "map: once per item" in (tmp_path / "plan.svg").read_text()
    result = planner_cli("run", path, "--local", "--render", tmp_path / "run.svg", "--json", tmp_path / "run.json")
    assert result.returncode == 0, result.stderr
    assert "map ×7 items" in (tmp_path / "run.svg").read_text()
    assert "square ×7" in result.stdout  # the table
    assert read_json(tmp_path / "run.json")["nodes"]["square"]["map"]["items"] == 7
    result = planner_cli("run", path, "--local", "--render", tmp_path / "run.mmd")
    assert "map ×7 items" in (tmp_path / "run.mmd").read_text()


def header_member(count: int) -> nx.DiGraph:
    """numbers → (square (map), twice) → join: under the canvas the map node
    is a direct member of a chord header (it replaces itself there)."""
    from workload.tasks import echo, numbers, square

    graph = nx.DiGraph()
    graph.add_node("numbers", task=numbers.si(count))
    graph.add_node("square", task=square.s(), map=True)
    graph.add_node("twice", task=echo.s())
    graph.add_node("join", task=echo.s())
    graph.add_edges_from([("numbers", "square"), ("numbers", "twice"), ("square", "join"), ("twice", "join")])
    return graph


@pytest.mark.timeout(90)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_a_map_node_in_a_chord_header_embedded(strategy):
    report = run_graph(header_member(4), local=True, strategy=strategy, timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    assert report.nodes["join"].result == [[0, 1, 4, 9], [0, 1, 2, 3]]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_a_map_node_in_a_chord_header_on_redis(strategy, redis_cluster):
    report = run_graph(header_member(4), broker=redis_cluster, backend=redis_cluster, strategy=strategy, timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    assert report.nodes["join"].result == [[0, 1, 4, 9], [0, 1, 2, 3]]


@pytest.mark.timeout(30)
def test_map_messages_are_small_and_redelivery_sends_the_successor_once(redis_url):
    """No workers (messages stay queued): the map message carries the run
    and the node, not the list; each item message carries its item; items
    counted twice (a redelivered item, a redelivered map message) send the
    successor once."""
    import redis
    from celery import uuid
    from workload.tasks import app

    from planner import exact
    from planner.embedded import forget_connections
    from planner.planning import make_plan, signatures

    forget_connections(app)
    app.conf.update(broker_url=redis_url, result_backend=redis_url, broker_transport_options={})
    graph = mapped(0)
    plan = make_plan(graph, "auto")
    task_ids = {name: uuid() for name in plan.graph}
    exact.submit(plan, signatures(graph), app, task_ids)
    client = redis.Redis.from_url(redis_url)
    run = client.keys(f"{exact.KEY_PREFIX}:*:spec:0")[0].decode().split(":")[1]
    index = {name: i for i, name in enumerate(plan.graph)}
    items = [f"item-{n:04d}" * 5 for n in range(300)]  # 15 KB of list
    app.backend.mark_as_done(task_ids["numbers"], items)
    queued = client.llen("celery")
    assert exact.advance(app, run, index["numbers"], items) == ["square"]
    message = client.lindex("celery", 0)
    assert client.llen("celery") == queued + 1 and len(message) < 2500 and b"item-0000" not in message
    owner = json.loads(message)["headers"]["id"]
    for _ in range(2):  # the map message, then its redelivered copy: the same item task ids
        exact.map_step.push_request(id=owner, hostname="test@host")
        try:
            exact.map_step.run(run, index["square"])
        finally:
            exact.map_step.pop_request()
    sent = [json.loads(raw) for raw in client.lrange("celery", 0, 2 * len(items) - 1)]
    assert len(sent) == 2 * len(items) and max(len(json.dumps(m)) for m in sent) < 2500
    ids = {m["headers"]["id"] for m in sent}
    assert ids == {item_task_id(task_ids["square"], k) for k in range(len(items))}
    for k, item in enumerate(items):
        app.backend.mark_as_done(item_task_id(task_ids["square"], k), item.upper())
    before = client.llen("celery")
    for k in [*range(len(items)), len(items) - 1, 0]:  # the last item and the first one done twice
        exact.item_done(app, run, index["square"], k, len(items), task_ids["square"])
    assert client.llen("celery") == before + 1  # "after", once
    assert app.backend.get_task_meta(task_ids["square"])["result"] == [item.upper() for item in items]


def flaky_map(counter: str) -> nx.DiGraph:
    """numbers(3) → flaky (map): the first two item calls fail and Celery
    retries them (autoretry_for)."""
    from workload.tasks import flaky, numbers

    graph = nx.DiGraph()
    graph.add_node("numbers", task=numbers.si(3))
    graph.add_node("flaky", task=flaky.s(node="flaky", counter=counter), map=True)
    graph.add_edge("numbers", "flaky")
    return graph


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_retried_items_still_complete_the_map_embedded(strategy, tmp_path):
    report = run_graph(flaky_map(str(tmp_path / "counter")), local=True, strategy=strategy, timeout=30)
    assert report.status == "SUCCESS", report.as_json()
    assert [r["got"] for r in report.nodes["flaky"].result] == [0, 1, 2]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_retried_items_still_complete_the_map_on_redis(strategy, redis_cluster):
    import redis

    redis.Redis.from_url(redis_cluster).delete("counter")
    report = run_graph(flaky_map(redis_cluster), broker=redis_cluster, backend=redis_cluster, strategy=strategy,
                       timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    assert [r["got"] for r in report.nodes["flaky"].result] == [0, 1, 2]


@pytest.mark.timeout(60)
def test_the_map_example_runs():
    result = planner_cli("run", ROOT / "examples" / "map" / "graph.py", "--local", "--param", "count=12")
    assert result.returncode == 0, result.stderr
    assert "published 12 thumbnails" in result.stdout and "resize ×12" in result.stdout


@pytest.mark.timeout(120)
def test_submit_and_attach_see_the_map_node_on_redis(redis_cluster):
    """planner.submit / attach (the run's record keeps map=True): the
    attached run's report counts the items as the run's own does."""
    import planner

    run = planner.submit(mapped(5), broker=redis_cluster, backend=redis_cluster)
    report = run.wait(timeout=60)
    check_success(report, 5)
    again = planner.attach(run.id, broker=redis_cluster, backend=redis_cluster).wait(timeout=30)
    assert again.as_json()["nodes"]["square"]["map"] == report.as_json()["nodes"]["square"]["map"]


def gathered_map() -> nx.DiGraph:
    """Not series-parallel around a map node: the canvas fetches inputs by
    id (planner.gather), the map node's list among them."""
    from workload.tasks import echo, numbers, square

    graph = nx.DiGraph()
    graph.add_node("a", task=numbers.si(4))
    graph.add_node("b", task=numbers.si(2))
    graph.add_node("c", task=square.s(), map=True)
    graph.add_node("d", task=echo.s())
    graph.add_node("e", task=echo.s())
    graph.add_edges_from([("a", "c"), ("a", "d"), ("b", "d"), ("c", "e"), ("a", "e")])
    return graph


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_a_map_node_whose_neighbours_gather_their_inputs_on_redis(strategy, redis_cluster):
    report = run_graph(gathered_map(), broker=redis_cluster, backend=redis_cluster, strategy=strategy, timeout=60)
    assert report.status == "SUCCESS", report.as_json()
    assert report.nodes["d"].result == [[0, 1, 2, 3], [0, 1]]
    assert report.nodes["e"].result == [[0, 1, 4, 9], [0, 1, 2, 3]]
    assert report.nodes["c"].items == 4


def test_collapse_keeps_a_map_node_in_its_own_stacked_box():
    from planner.analysis import plan_canvas
    from planner.render import diagram

    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f"), ("f", "g")])
    graph.nodes["d"]["map"] = True
    boxes = diagram(plan_canvas(graph), collapse=True).boxes
    assert [box.names for box in boxes.values()] == [("a", "b", "c"), ("d",), ("e", "f", "g")]
    assert [box.stacked for box in boxes.values()] == [False, True, False]
    boxes = diagram(plan_canvas(graph), states={"d": "SUCCESS"}, items={"d": 10000}).boxes
    assert boxes["d"].lines[-2:] == ["map ×10000 items", "SUCCESS"]


def test_preflight_asks_the_workers_for_the_map_helpers():
    """The helper tasks a map node sends are among what preflight checks the
    workers have registered (``--include planner.tasks``)."""
    from workload.tasks import app

    from planner.planning import make_plan, signatures
    from planner.routing import helper_tasks
    from planner.run import queue_needs

    graph = mapped(3)
    assert "planner.map" in helper_tasks(make_plan(graph, "canvas"))
    exact_plan = make_plan(graph, "auto")
    assert "planner.exact.map" in helper_tasks(exact_plan)
    assert all("planner.exact.map" in tasks for tasks in queue_needs(app, exact_plan, signatures(graph)).values())


@pytest.mark.timeout(90)
def test_a_timed_out_map_revokes_its_items_on_redis(redis_cluster):
    """The run's timeout cancels it: the map node's items not yet run are
    revoked with the nodes (they would run for nothing: nothing follows)."""
    import time

    import redis
    from workload.tasks import counted, echo, numbers

    client = redis.Redis.from_url(redis_cluster)
    client.delete("tally")
    graph = nx.DiGraph([("numbers", "slow"), ("slow", "after")])
    graph.nodes["numbers"]["task"] = numbers.si(60)
    graph.nodes["slow"].update(task=counted.s(node="slow", sleep=0.5, tally=redis_cluster), map=True)
    graph.nodes["after"]["task"] = echo.s()
    report = run_graph(graph, broker=redis_cluster, backend=redis_cluster, timeout=2.0)
    assert report.status == "TIMEOUT" and report.nodes["slow"].items == 60
    time.sleep(6)  # 60 items of 0.5 s on 6 slots would take 5 s
    assert 0 < client.llen("tally") < 40


@pytest.mark.timeout(60)
@pytest.mark.parametrize("strategy", ["auto", "canvas"])
def test_the_map_node_is_in_the_runs_journal_on_redis(strategy, redis_cluster):
    """Exact: a map node has no message of its own, so the worker that fans
    it out journals its start and the one that collects it its end; canvas:
    planner.map starts it, planner.map.collect ends it. The follower learns
    of it without a scan; items are not journalled (not nodes)."""
    import redis

    from planner.journal import key

    report = run_graph(mapped(4), broker=redis_cluster, backend=redis_cluster, strategy=strategy, timeout=30)
    check_success(report, 4)
    events = [json.loads(raw) for raw in redis.Redis.from_url(redis_cluster).lrange(key(report.run_id), 0, -1)]
    square = report.nodes["square"].task_id
    mine = [event[:3] for event in events if event[1] == square and event[0] in "sd"]
    assert mine[0][0] == "s" and mine[-1] == ["d", square, "SUCCESS"]
    items = {item_task_id(square, k) for k in range(4)}
    assert not [event for event in events if event[1] in items or (len(event) > 3 and event[3] in items)]
