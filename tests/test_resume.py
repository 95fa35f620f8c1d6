"""``planner run --resume REPORT.json`` and partial reports on every exit:
failure, timeout, Ctrl-C, a Redis restarted mid-run with and without
persistence. Real workers: the embedded one and prefork ``celery worker``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from runhelp import ROOT, TESTS, check_contract, planner_cli, read_json, write_graph_file
from servers import Workers, free_port, port_open, redis_server_binary

GRAPH = """
from workload.tasks import boom, counted
import os

TALLY = {tally!r}
SLEEP = float(os.environ.get("PLANNER_TEST_SLEEP", "0"))
graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("a", "f")])
for name in graph:
    graph.nodes[name]["task"] = counted.s(node=name, tally=TALLY, sleep=SLEEP)
if os.environ.get("PLANNER_TEST_BROKEN"):
    graph.nodes["c"]["task"] = boom.s(node="c")
if os.environ.get("PLANNER_TEST_CHANGED"):
    graph.nodes["b"]["task"] = counted.s(node="b", tally=TALLY, sleep=SLEEP + 0.001)
"""


def _cli(*args, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        return planner_cli(*args, timeout=timeout)
    finally:
        os.environ.clear()
        os.environ.update(old)


def _tally(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.timeout(120)
def test_resume_runs_only_what_failed_or_changed_on_the_embedded_worker(tmp_path):
    tally = tmp_path / "tally.txt"
    graph = write_graph_file(tmp_path, GRAPH.format(tally=str(tally)))
    first = _cli("run", graph, "--local", "--json", tmp_path / "r1.json", "-q", env={"PLANNER_TEST_BROKEN": "1"})
    assert first.returncode == 1, first.stderr
    r1 = read_json(tmp_path / "r1.json")
    assert [r1["nodes"][n]["state"] for n in "abcdef"] == ["SUCCESS", "SUCCESS", "FAILURE", "SKIPPED", "SKIPPED",
                                                           "SUCCESS"]
    assert all(node["fingerprint"] for node in r1["nodes"].values())
    tally.unlink()
    second = _cli("run", graph, "--local", "--resume", tmp_path / "r1.json", "--json", tmp_path / "r2.json")
    assert second.returncode == 0, second.stderr
    r2 = read_json(tmp_path / "r2.json")
    assert r2["status"] == "SUCCESS"
    assert sorted(_tally(tally)) == ["c", "d", "e"]  # a, b and f are reused, not run
    assert {n for n, node in r2["nodes"].items() if node.get("reused")} == {"a", "b", "f"}
    assert r2["nodes"]["d"]["result"]["got"] == ["b", "c"]
    assert "(reused)" in second.stdout and "3 reused" in second.stdout
    # b's arguments change: b and what depends on it run again, a/c/f do not
    tally.unlink()
    third = _cli("run", graph, "--local", "--resume", tmp_path / "r2.json", "--json", tmp_path / "r3.json", "-q",
                 env={"PLANNER_TEST_CHANGED": "1"})
    assert third.returncode == 0, third.stderr
    assert sorted(_tally(tally)) == ["b", "d", "e"]


def test_resume_from_something_else_is_one_line(tmp_path):
    graph = write_graph_file(tmp_path, GRAPH.format(tally=str(tmp_path / "t")))
    (tmp_path / "bad.json").write_text("[1, 2]")
    for report, says in (("missing.json", "no such file"), ("bad.json", "not a report")):
        result = planner_cli("run", graph, "--local", "--resume", tmp_path / report)
        assert result.returncode == 2 and says in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(60)
def test_ctrl_c_writes_the_partial_report(tmp_path):
    graph = write_graph_file(tmp_path, GRAPH.format(tally=str(tmp_path / "tally.txt")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), PLANNER_TEST_SLEEP="1.0")
    process = subprocess.Popen([sys.executable, "-m", "planner", "run", str(graph), "--local", "--json",
                                str(tmp_path / "r.json"), "-q"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(3.5)  # a finished, b/c/f running
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    report = read_json(tmp_path / "r.json")
    assert report["status"] == "INTERRUPTED"
    assert report["nodes"]["a"]["state"] == "SUCCESS"
    assert report["nodes"]["e"]["state"] == "UNFINISHED"


@pytest.mark.timeout(150)
def test_resume_a_timed_out_run_on_a_cluster(tmp_path, redis_url, workers):
    workers("workload.tasks", redis_url, redis_url, count=1, concurrency=2)
    graph = write_graph_file(tmp_path, GRAPH.format(tally=redis_url))
    env = {"PLANNER_TEST_SLEEP": "1.5"}
    first = _cli("run", graph, "--broker", redis_url, "--timeout", "5", "--json", tmp_path / "r1.json", "-q", env=env)
    assert first.returncode == 124, first.stderr
    r1 = read_json(tmp_path / "r1.json")
    done = {name for name, node in r1["nodes"].items() if node["state"] == "SUCCESS"}
    assert len(done) < 6 and r1["status"] == "TIMEOUT", r1
    time.sleep(3)  # nodes that were running when it timed out end before the resumed run looks
    client = redis.Redis.from_url(redis_url)
    client.delete("tally")
    second = _cli("run", graph, "--broker", redis_url, "--resume", tmp_path / "r1.json", "--json",
                  tmp_path / "r2.json", "-q", env=env)
    assert second.returncode == 0, second.stderr
    r2 = read_json(tmp_path / "r2.json")
    assert {name for name, node in r2["nodes"].items() if node.get("reused")} == done
    runs = [value.decode() for value in client.lrange("tally", 0, -1)]
    assert sorted(runs) == sorted(set("abcdef") - done)
    results = {name: node["result"] for name, node in r2["nodes"].items()}
    import networkx as nx

    shape = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("a", "f")])
    for name in shape:
        shape.nodes[name]["task"] = type("Sig", (), {"immutable": False})()
    check_contract(shape, results)
    # followed by id, the resumed run says which nodes it reused too
    status = _cli("status", r2["run_id"], "--backend", redis_url, "--json", tmp_path / "status.json")
    assert status.returncode == 0, status.stderr
    shown = read_json(tmp_path / "status.json")["nodes"]
    assert {name for name, node in shown.items() if node.get("reused")} == done
    assert all(shown[name]["state"] == "SUCCESS" for name in "abcdef")


# --- Redis restarted mid-run ------------------------------------------------------------------------------


def _start_redis(port: int, folder: Path, persistent: bool) -> subprocess.Popen:
    options = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    process = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                *options, "--dir", str(folder), "--daemonize", "no", "--loglevel", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
        time.sleep(0.05)
    return process


@pytest.mark.timeout(180)
@pytest.mark.parametrize("persistent", [False, True])
def test_redis_restarted_mid_run(tmp_path, persistent):
    """Without persistence the run's state is gone: the run ends within the
    bound, one line, the partial report written. With it the run goes on."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _start_redis(port, tmp_path, persistent)
    graph = write_graph_file(tmp_path, GRAPH.format(tally=str(tmp_path / "tally.txt")))
    group = Workers("workload.tasks", url, url, count=1, concurrency=2).start()
    try:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), PLANNER_TEST_SLEEP="2.0")
        process = subprocess.Popen([sys.executable, "-m", "planner", "run", str(graph), "--broker", url,
                                    "--strategy", "exact", "--json", str(tmp_path / "r.json"), "-q",
                                    "--timeout", "120"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=ROOT)
        time.sleep(4.5)  # preflight, then a, b, c, f running (8 s of critical path in all)
        redis.Redis(port=port).shutdown(nosave=not persistent)  # persistent: written to the append-only file
        server.wait(10)
        time.sleep(1)
        server = _start_redis(port, tmp_path, persistent)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=100)
        assert len((tmp_path / "tally.txt").read_text().split()) < 6, "the run ended before the restart"
        report = read_json(tmp_path / "r.json")
        print("OUTCOME", persistent, process.returncode, stderr.strip()[-300:], time.monotonic() - started)
        if persistent and process.returncode == 0:  # it went on
            assert report["status"] == "SUCCESS"
        elif persistent:  # or it ended within the bound, saying why
            assert process.returncode == 2, stderr
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and "came back after an outage" in lines[0], stderr
            assert time.monotonic() - started < 60 and report["status"] == "DISCONNECTED"
        else:
            assert process.returncode == 2, stderr
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and "restarted and lost this run's state" in lines[0], stderr
            assert f"127.0.0.1:{port}" in lines[0]
            assert time.monotonic() - started < 20
            assert report["status"] == "DISCONNECTED" and report["error"] == lines[0].split("error: ", 1)[1]
    finally:
        group.stop()
        server.terminate()
        server.wait(10)
