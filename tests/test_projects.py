"""planner in a real Celery project (tests/project.py builds one): graph
files importing the project's package from its root, routed queues on the
embedded worker, ``--workers`` and real workers with and without a consumer
of the routed queue, parameters, what a node will do, retries on a second
worker, and runs that stand still."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import date, datetime
from typing import Optional

import pytest
from project import SCRIPT, make_project, pipeline, planner_script
from runhelp import write_graph_file
from servers import Workers, redis_server

DAY = "day=2026-11-27"


@pytest.fixture
def project(tmp_path):
    """The project with no broker configured: planner runs it on the embedded worker."""
    return make_project(tmp_path / "proj")


def one_line_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- loading from the project root -----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_graph_files_import_the_project_package_from_its_root(project):
    result = planner_script("plan", "pipelines/nightly.py", "--param", DAY, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "fetch_eu  shop.tasks.fetch_orders('2026-11-27', 'eu')" in result.stdout
    charge = next(line for line in result.stdout.splitlines() if "charge_eu" in line and "shop.tasks" in line)
    assert "[queue billing, time limit 30 s (soft 20 s), retries: up to 3 on ConnectionError, 1 s apart]" in charge
    assert "parameters:      day=2026-11-27 regions=eu,us copies=1" in result.stdout
    data = json.loads(planner_script("plan", "pipelines/nightly.py", "--param", DAY, "-f", "json",
                                     cwd=project).stdout)
    assert data["nodes"]["charge_us"] == {"queue": "billing", "time_limit": 30, "soft_time_limit": 20,
                                          "retry": {"on": ["ConnectionError"], "max_retries": 3, "delay": 1}}
    assert "fetch_us" not in data["nodes"]  # default queue, no limits, no retries: nothing to say
    assert data["parameters"] == {"day": "2026-11-27", "regions": ["eu", "us"], "copies": 1}
    dot = planner_script("render", "pipelines/nightly.py", "--param", DAY, "-o", "-", cwd=project)
    assert dot.returncode == 0 and "queue billing" in dot.stdout and "time limit 30 s (soft 20 s)" in dot.stdout


@pytest.mark.timeout(60)
def test_an_import_error_names_the_module_and_where_it_looked(project):
    elsewhere = project.parent
    result = planner_script("plan", "proj/pipelines/nightly.py", "--param", DAY, cwd=elsewhere)
    line = one_line_error(result, "proj/pipelines/nightly.py:5: cannot import 'shop'",
                          f"the graph file's folder ({project / 'pipelines'})", f"the working directory ({elsewhere})",
                          "run planner from the folder that holds 'shop'")
    assert "PLN100" not in line
    pipeline(project, "daily", '''
        import networkx as nx
        from shop.tasks import report
        graph = nx.DiGraph()
        graph.add_node("r", task=report.si([]))
    ''')
    lint = planner_script("lint", "proj/pipelines", cwd=elsewhere)
    assert lint.returncode == 1
    assert "environment problem, the graph file may be fine: cannot import 'shop'" in lint.stdout
    assert "fix the graph file" not in lint.stdout and "run planner lint from the project root" in lint.stdout


# --- parameters -----------------------------------------------------------------------------------------------

TYPED = '''
from datetime import date, datetime

import networkx as nx

from shop.tasks import report


def graph(day: date, at: datetime, regions: list[str], copies: int = 2, rate: float = 0.5, dry_run: bool = False,
          label: str = "nightly", note="plain"):
    g = nx.DiGraph()
    g.add_node("echo", task=report.si([{"charged": copies}]),
               params=[day.isoformat(), at.isoformat(), regions, copies, rate, dry_run, label, note])
    return g
'''


@pytest.mark.timeout(60)
def test_parameters_are_listed_given_and_recorded(project):
    pipeline(project, "typed", TYPED)
    listed = planner_script("plan", "pipelines/typed.py", "--params", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "day: date (required)", "at: datetime (required)", "regions: list[str] (required)", "copies: int = 2",
        "rate: float = 0.5", "dry_run: bool = False", "label: str = nightly", "note: str = plain"]
    given = ["--param", "day=2026-11-27", "--param", "at=2026-11-27T06:30", "--param", "regions=eu, us,asia",
             "--param", "copies=3", "--param", "rate=1.5", "--param", "dry_run=yes"]
    result = planner_script("plan", "pipelines/typed.py", *given, cwd=project)
    assert result.returncode == 0, result.stderr
    assert ("parameters:      day=2026-11-27 at=2026-11-27T06:30:00 regions=eu,us,asia copies=3 rate=1.5 "
            "dry_run=True label=nightly note=plain") in result.stdout
    one_line_error(planner_script("plan", "pipelines/typed.py", "--param", "day=2026-11-27", cwd=project),
                   "pipelines/typed.py: graph(): parameter 'at' (datetime) is required: give --param "
                   "at=2026-11-27T06:00:00")


def typed(day: date, at: datetime, regions: list[str], copies: int = 2, rate: float = 0.5, dry_run: bool = False,
          label: str = "nightly", note="plain", when: Optional[date] = None):
    return locals()


def test_parameters_are_converted_by_their_annotations():
    from planner.parameters import as_json, bind

    values = bind(typed, {"day": "2026-11-27", "at": "2026-11-27T06:30", "regions": "eu, us,,asia",
                          "copies": "3", "rate": "1e-1", "dry_run": "ON", "label": " x ", "when": "2026-01-02"})
    assert values == {"day": date(2026, 11, 27), "at": datetime(2026, 11, 27, 6, 30), "regions": ["eu", "us", "asia"],
                      "copies": 3, "rate": 0.1, "dry_run": True, "label": " x ", "note": "plain",
                      "when": date(2026, 1, 2)}
    recorded = json.loads(json.dumps(as_json(values)))  # what a run report keeps, for --resume
    assert recorded["day"] == "2026-11-27" and recorded["regions"] == ["eu", "us", "asia"]
    assert bind(typed, recorded) == values
    defaults = bind(typed, {"day": "2026-11-27", "at": "2026-11-27", "regions": ""})
    assert defaults["regions"] == [] and defaults["copies"] == 2 and defaults["when"] is None


COMPLETE = {"day": "2026-11-27", "at": "2026-11-27T06:00", "regions": "eu"}


@pytest.mark.parametrize("given, message", [
    ({"at": "2026-11-27T06:00", "regions": "eu"}, "g: parameter 'day' (date) is required: give --param day=2026-11-27"),
    ({**COMPLETE, "copies": "three"}, "g: parameter 'copies' must be a whole number (int), got 'three'"),
    ({**COMPLETE, "copies": "2.5"}, "g: parameter 'copies' must be a whole number (int), got '2.5'"),
    ({**COMPLETE, "day": "27.11.2026"}, "g: parameter 'day' must be a date, YYYY-MM-DD (date), got '27.11.2026'"),
    ({**COMPLETE, "rate": "fast"}, "g: parameter 'rate' must be a number (float), got 'fast'"),
    ({**COMPLETE, "dry_run": "maybe"}, "g: parameter 'dry_run' must be true or false (bool), got 'maybe'"),
    ({**COMPLETE, "at": "noon"}, "g: parameter 'at' must be an ISO 8601 date and time, YYYY-MM-DDTHH:MM[:SS] "
                                 "(datetime), got 'noon'"),
    ({**COMPLETE, "copies": True}, "g: parameter 'copies' must be a whole number (int), got True"),
    ({**COMPLETE, "dya": "2026-11-27"}, "g: unknown parameter 'dya' (its parameters: day, at, regions, copies, rate, "
                                        "dry_run, label, note, when)"),
])
def test_missing_and_bad_parameters_name_the_parameter(given, message):
    from planner.errors import PlannerError
    from planner.parameters import bind

    with pytest.raises(PlannerError) as caught:
        bind(typed, given, "g")
    assert str(caught.value) == message


def test_assignments_and_annotations_planner_cannot_convert():
    from planner.errors import PlannerError
    from planner.parameters import parameters_of, parse_assignments

    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad, message in ((["day"], "--param takes NAME=VALUE, got 'day'"), (["a=1", "a=2"], "--param a is given twice")):
        with pytest.raises(PlannerError, match=message):
            parse_assignments(bad)

    def odd(when: dict):
        pass

    with pytest.raises(PlannerError, match="parameter 'when' is annotated dict: planner converts str, int"):
        parameters_of(odd, "g")


@pytest.mark.timeout(60)
def test_parameters_only_where_a_function_takes_them(tmp_path):
    from planner.errors import PlannerError
    from planner.graphfile import graph_parameters, load_graph_and_parameters

    fixed = write_graph_file(tmp_path, """
        from workload.tasks import add
        graph = nx.DiGraph()
        graph.add_node("r", task=add.si(1, 2))
    """, name="fixed.py")
    with pytest.raises(PlannerError, match="'graph' is not a function, so it takes no parameters .got --param day."):
        load_graph_and_parameters(fixed, params={"day": "2026-11-27"})
    assert graph_parameters(fixed) == []
    assert load_graph_and_parameters(fixed)[1] == {}
    document = tmp_path / "graph.json"
    document.write_text(json.dumps({"nodes": [{"id": "r", "task": "workload.tasks.add", "args": [1, 2]}], "links": []}))
    with pytest.raises(PlannerError, match="graph.json: a node-link JSON graph takes no parameters"):
        load_graph_and_parameters(document, params={"day": "2026-11-27"})
    failing = write_graph_file(tmp_path, """
        def graph(day: str = "x"):
            raise ValueError(f"no data for {day}")
    """, name="failing.py")
    with pytest.raises(PlannerError, match=r"failing.py:6: graph\(\) raised ValueError: no data for x"):
        load_graph_and_parameters(failing)


# --- routed queues on the embedded worker -------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_the_embedded_worker_consumes_the_routed_queues(project):
    """(Both strategies on the embedded worker, in process: tests/test_routing.py.)"""
    out = project / "report.json"
    started = time.monotonic()
    result = planner_script("run", "pipelines/nightly.py", "--param", DAY, "--param", "copies=2",
                            "--timeout", "30", "--json", out, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30
    assert "queues celery, billing" in result.stdout
    report = json.loads(out.read_text())
    assert report["nodes"]["report"]["result"] == 12  # 2 regions x 3 orders x 2 copies, charged on 'billing'
    assert report["parameters"] == {"day": "2026-11-27", "regions": ["eu", "us"], "copies": 2}
    assert "parameters: day=2026-11-27 regions=eu,us copies=2" in result.stdout


# --- real workers --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_cluster(tmp_path_factory):
    """The project on a redis-server of its own (db 0), with two workers
    started as its README says: one on the default queue, one with
    ``-Q billing,second``."""
    project = make_project(tmp_path_factory.mktemp("cluster") / "proj")
    with redis_server() as base:
        url = f"{base}/0"
        make_project(project, broker=url)
        default = Workers("shop", url, url, count=1, concurrency=2, pythonpath=[project], extra_args=["-Q", "celery"])
        billing = Workers("shop", url, url, count=1, concurrency=2, pythonpath=[project],
                          extra_args=["-Q", "billing,second"])
        with default, billing:
            yield {"project": project, "url": url, "base": base, "default": default.names[0],
                   "billing": billing.names[0], "logs": default.logs + billing.logs}


def shop_app(url: str):
    from celery import Celery

    return Celery("probe", broker=url, backend=url)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("strategy", ["canvas", "exact"])
def test_routed_nodes_run_on_the_worker_of_their_queue(shop_cluster, strategy):
    project, out = shop_cluster["project"], shop_cluster["project"] / f"{strategy}.json"
    result = planner_script("run", "pipelines/nightly.py", "--param", DAY, "--strategy", strategy, "--timeout", "60",
                            "--json", out, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    nodes = json.loads(out.read_text())["nodes"]
    assert nodes["report"]["result"] == 6
    assert {nodes[n]["worker"] for n in ("charge_eu", "charge_us")} == {shop_cluster["billing"]}
    assert {nodes[n]["worker"] for n in ("fetch_eu", "fetch_us", "report")} == {shop_cluster["default"]}


@pytest.mark.timeout(120)
def test_a_retry_that_lands_on_a_second_worker_is_credited_to_it(shop_cluster):
    project = shop_cluster["project"]
    pipeline(project, "moving", '''
        import networkx as nx
        from shop.tasks import moving
        graph = nx.DiGraph()
        graph.add_node("mover", task=moving.si("x"))
    ''')
    out = project / "moving.json"
    result = planner_script("run", "pipelines/moving.py", "--timeout", "30", "--json", out, cwd=project)
    if result.returncode != 0:  # say where the message went
        app = shop_app(shop_cluster["url"])
        inspector = app.control.inspect(timeout=1)
        found = {kind: getattr(inspector, kind)() for kind in ("active", "reserved", "scheduled", "active_queues")}
        app.close()
        logs = "\n".join(log.read_text()[-2000:] for log in shop_cluster["logs"])
        raise AssertionError(f"{result.stdout}{result.stderr}\n{out.read_text() if out.exists() else ''}\n{found}\n"
                             f"{logs}")
    node = json.loads(out.read_text())["nodes"]["mover"]
    assert node["result"] == {"label": "x", "tries": 2}
    assert node["tries"] == 2 and node["worker"] == shop_cluster["billing"]  # not the first try's worker
    assert "tries" in result.stdout.splitlines()[0]  # the table shows the column when a node was retried


@pytest.mark.timeout(120)
def test_preflight_names_the_queue_nobody_consumes(shop_cluster):
    """A worker has the task registered, but none consumes 'billing'."""
    project, app = shop_cluster["project"], shop_app(shop_cluster["url"])
    billing = [shop_cluster["billing"]]
    app.control.cancel_consumer("billing", destination=billing, reply=True, timeout=5)
    try:
        started = time.monotonic()
        result = planner_script("run", "pipelines/nightly.py", "--param", DAY, "--timeout", "60", cwd=project)
        elapsed = time.monotonic() - started
    finally:
        app.control.add_consumer("billing", destination=billing, reply=True, timeout=5)
        app.close()
    one_line_error(result, "no live worker consumes the queue 'billing' that task 'shop.tasks.charge' (node 'charge_",
                   "add -Q billing to a worker's command", "celery -A shop worker -Q ", "billing --include planner.tasks")
    assert elapsed < 30, elapsed


@pytest.mark.timeout(60)
def test_preflight_names_a_task_the_consumers_of_its_queue_lack(shop_cluster):
    """Only the billing worker consumes 'billing': a task sent there must be
    registered on it; the error names the queue."""
    from planner.errors import PlannerError
    from planner.preflight import check_queues, check_workers

    app = shop_app(shop_cluster["url"])
    try:
        workers = check_workers(app, ["celery", "billing"])
        assert sorted(workers) == sorted([shop_cluster["default"], shop_cluster["billing"]])
        assert check_queues(app, {"billing": {"shop.tasks.charge": ["charge"]}}, workers) == []
        with pytest.raises(PlannerError) as caught:
            check_queues(app, {"billing": {"shop.tasks.charge": ["charge"], "shop.tasks.elsewhere": ["n"]}}, workers)
        assert str(caught.value) == "no live worker consuming the queue 'billing' has the task 'shop.tasks.elsewhere' registered"
    finally:
        app.close()


@pytest.mark.timeout(150)
def test_local_workers_consume_the_routed_queues(shop_cluster):
    project, url = shop_cluster["project"], f"{shop_cluster['base']}/4"
    out = project / "local.json"
    result = planner_script("run", "pipelines/nightly.py", "--param", DAY, "--broker", url, "--backend", url,
                            "--workers", "2", "--timeout", "90", "--json", out, cwd=project, timeout=140)
    assert result.returncode == 0, result.stdout + result.stderr
    nodes = json.loads(out.read_text())["nodes"]
    assert nodes["report"]["result"] == 6
    assert all(node["worker"].startswith("planner") for node in nodes.values())


STALLING = '''
import networkx as nx
from shop.tasks import fetch_orders, pause, refund

def graph(seconds: float = 3.0):
    g = nx.DiGraph([("wait", "orders"), ("orders", "refund")])
    g.add_node("wait", task=pause.si(seconds))
    g.add_node("orders", task=fetch_orders.si("2026-11-27", "eu"))
    g.add_node("refund", task=refund.s())
    return g
'''


@pytest.mark.timeout(120)
def test_a_run_that_stands_still_says_what_waits_where_and_ends(shop_cluster):
    """The billing worker stops consuming its queue after preflight: the
    routed node waits, the progress says so, and --stall-timeout ends the
    run with exit 2, its report written."""
    project, app = shop_cluster["project"], shop_app(shop_cluster["url"])
    pipeline(project, "stalling", STALLING)
    out = project / "stalled.json"
    command = [str(SCRIPT), "run", "pipelines/stalling.py", "--strategy", "exact", "--stall-timeout", "3",
               "--json", str(out), "--timeout", "60"]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    billing = [shop_cluster["billing"]]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # preflight is over once 'wait' runs (inside a segment message)
            active = app.control.inspect(destination=[shop_cluster["default"]], timeout=0.5).active() or {}
            if any(tasks for tasks in active.values()):
                break
            time.sleep(0.2)  # inspect requests keep the worker's main loop busy: not too often
        app.control.cancel_consumer("billing", destination=billing, reply=True, timeout=5)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        app.control.add_consumer("billing", destination=billing, reply=True, timeout=5)
        app.close()
    assert process.returncode == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert any(line.startswith("waiting: nothing started or finished for 3 s and no worker holds a node: "
                               "1 node waits on queue 'billing' (refund)") for line in lines), stderr
    assert lines[-1].startswith("planner: error: stalled: nothing started or finished for 3 s")
    assert lines[-1].endswith("start a worker with -Q billing, or give --stall-timeout 0 to wait forever")
    report = json.loads(out.read_text())
    assert report["status"] == "STALLED" and report["parameters"] == {"seconds": 3.0}
    assert [report["nodes"][n]["state"] for n in ("wait", "orders", "refund")] == ["SUCCESS", "SUCCESS", "UNFINISHED"]


@pytest.mark.timeout(60)
def test_no_worker_is_answered_at_once_on_redis(shop_cluster):
    from planner.errors import PlannerError
    from planner.preflight import check_workers

    app = shop_app(f"{shop_cluster['base']}/6")  # no worker on this database
    try:
        started = time.monotonic()
        with pytest.raises(PlannerError, match="no Celery worker answered"):
            check_workers(app, ["celery"])
        assert time.monotonic() - started < 2.0  # the pings alone took 3.3 s before
    finally:
        app.close()


# --- the README's API example ------------------------------------------------------------------------------

FOLLOW_VIEWS = """
import json, sys, time
from shop.views import nightly_report, nightly_status
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    states = nightly_status(sys.argv[1])
    if all(state in ("SUCCESS", "FAILURE", "SKIPPED") for state in states.values()):
        break
    time.sleep(0.2)
print(json.dumps({"states": states, "report": nightly_report(sys.argv[1])}))
"""


def readme_python_block(after: str) -> str:
    from runhelp import ROOT

    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n", readme.index(after)) + len("```python\n")
    return readme[start:readme.index("```", start)]


@pytest.mark.timeout(150)
def test_the_readme_api_example_runs_as_written(shop_cluster):
    """``shop/views.py`` exactly as the README has it: one process submits
    (a view), another follows the run by id (another view)."""
    import sys

    project = shop_cluster["project"]
    (project / "shop" / "views.py").write_text(readme_python_block("A web request starts a run"))
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def view(code: str, *args) -> str:
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=project, env=environment,
                                capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run_id = view("from shop.views import start_nightly; print(start_nightly('2026-11-27')['run_id'])").strip()
    followed = json.loads(view(FOLLOW_VIEWS, run_id))
    assert followed["states"] == {name: "SUCCESS" for name in followed["report"]["nodes"]}
    report = followed["report"]
    assert report["status"] == "SUCCESS" and report["run_id"] == run_id
    assert report["parameters"] == {"day": "2026-11-27"} and report["nodes"]["report"]["result"] == 6
    assert report["nodes"]["charge_eu"]["worker"] == shop_cluster["billing"]
