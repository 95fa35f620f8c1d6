"""Install as a user installs: ``pip install`` the checkout into a fresh
venv with no extras, then run a graph on Redis with a worker. Needs PyPI;
marked ``install`` (``make test`` runs it; ``-m 'not install'`` skips it)."""

from __future__ import annotations

import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TASKS = """
from celery import Celery

app = Celery("fresh")


@app.task
def double(value):
    return value * 2


@app.task
def total(values):
    return sum(values)
"""

GRAPH = """
import networkx as nx
from tasks import double, total

graph = nx.DiGraph([("a", "sum"), ("b", "sum")])
graph.add_node("a", task=double.si(2))
graph.add_node("b", task=double.si(5))
graph.add_node("sum", task=total.s())
"""


def run(command, timeout, **options):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **options)


@pytest.mark.install
@pytest.mark.timeout(420)
def test_a_fresh_venv_without_extras_runs_a_graph_on_redis(tmp_path, redis_url):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)], 360)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    (tmp_path / "tasks.py").write_text(textwrap.dedent(TASKS))
    (tmp_path / "graph.py").write_text(textwrap.dedent(GRAPH))
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    planner = [str(env_dir / "bin" / "planner")]
    result = run([*planner, "run", "graph.py", "--broker", redis_url, "--workers", "1", "--json", "out.json"], 120,
                 cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"result": 14' in (tmp_path / "out.json").read_text()

    # A transport whose package is missing is named, with the command that installs it.
    removed = run([str(python), "-m", "pip", "uninstall", "-y", "-q", "packaging"], 120)
    assert removed.returncode == 0, removed.stderr
    broken = run([*planner, "run", "graph.py", "--broker", redis_url], 60, cwd=tmp_path, env=env)
    assert broken.returncode == 2
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and "'packaging'" in lines[0] and "pip install 'celery[redis]'" in lines[0], broken.stderr
    assert "cannot reach" not in broken.stderr

