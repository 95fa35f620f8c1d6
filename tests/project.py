"""A Celery project laid out the way teams lay them out, built in a temp
folder: the package ``shop/`` (``app = Celery("shop")`` configured from
``shop.celeryconfig``, tasks found by ``autodiscover_tasks``, billing tasks
routed to the ``billing`` queue, time limits and ``autoretry_for``) and
graph files in ``pipelines/`` importing ``from shop.tasks import ...``.

The tests run the installed ``planner`` script from the project root, as a
user would: nothing puts the project on ``sys.path`` but planner itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "planner"

INIT = '''
from .celery import app as celery_app

__all__ = ("celery_app",)
'''

CELERY = '''
from celery import Celery

app = Celery("shop")
app.config_from_object("shop.celeryconfig")
app.autodiscover_tasks(["shop"])
'''

CONFIG = '''
{broker}
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
broker_connection_retry_on_startup = True
task_routes = {{"shop.tasks.charge": {{"queue": "billing"}}, "shop.tasks.refund": "billing"}}
'''

TASKS = '''
import time

from celery import shared_task


@shared_task
def fetch_orders(day, region):
    return [f"{region}-{day}-{n}" for n in range(3)]


@shared_task(time_limit=30, soft_time_limit=20, autoretry_for=(ConnectionError,), max_retries=3,
             default_retry_delay=1)
def charge(orders, copies=1):
    return {"charged": len(orders) * copies}


@shared_task
def refund(orders):
    return {"refunded": len(orders)}


@shared_task
def report(totals):
    return sum(t.get("charged", 0) for t in totals)


@shared_task
def pause(seconds):
    time.sleep(seconds)
    return seconds


@shared_task(bind=True)
def moving(self, label):
    """Its first try asks to be retried on the queue ``second``: the retry
    runs on whichever worker consumes that queue. (A second later: with no
    countdown, the retry can finish before the first worker stores RETRY,
    which then overwrites SUCCESS: Celery checks, then sets.)"""
    if self.request.retries == 0:
        raise self.retry(queue="second", countdown=1)
    return {"label": label, "tries": self.request.retries + 1}
'''

NIGHTLY = '''
from datetime import date

import networkx as nx

from shop.tasks import charge, fetch_orders, report


def graph(day: date, regions: list[str] = ["eu", "us"], copies: int = 1) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("report", task=report.s())
    for region in regions:
        g.add_node(f"fetch_{region}", task=fetch_orders.si(day.isoformat(), region))
        g.add_node(f"charge_{region}", task=charge.s(copies=copies))
        g.add_edge(f"fetch_{region}", f"charge_{region}")
        g.add_edge(f"charge_{region}", "report")
    return g
'''


def make_project(folder: Path, broker: str | None = None) -> Path:
    """Write the project under ``folder``; its config points at ``broker``
    (also its result backend), or at none (planner then runs on the embedded
    worker)."""
    shop, pipelines = folder / "shop", folder / "pipelines"
    shop.mkdir(parents=True, exist_ok=True)
    pipelines.mkdir(exist_ok=True)
    setting = f"broker_url = {broker!r}\nresult_backend = {broker!r}" if broker else ""
    files = {shop / "__init__.py": INIT, shop / "celery.py": CELERY, shop / "tasks.py": TASKS,
             shop / "celeryconfig.py": CONFIG.format(broker=setting), pipelines / "nightly.py": NIGHTLY}
    for path, text in files.items():
        path.write_text(textwrap.dedent(text).lstrip())
    return folder


def pipeline(project: Path, name: str, body: str) -> Path:
    """Another graph file in ``pipelines/``."""
    path = project / "pipelines" / f"{name}.py"
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def planner_script(*args, cwd: Path, timeout: float = 90, env: dict | None = None, **popen) -> subprocess.CompletedProcess:
    """The installed ``planner`` command in ``cwd``, with nothing extra on
    ``PYTHONPATH`` (the suite's own tests folder aside, for ``planner.tasks``
    this is not needed: planner is installed)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["COLUMNS"] = "200"
    environment.update(env or {})
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=environment, **popen)
