"""Tasks for the N-shaped graph."""

import time

from celery import Celery

app = Celery("examples")


@app.task
def fetch(source):
    time.sleep(0.1)
    return f"{source}-data"


@app.task
def index(data):
    return f"indexed {data}"


@app.task
def join(parts):
    return " + ".join(parts)
