"""The seed's tasks: a chain passes each result as the next task's first argument."""

from celery import Celery

app = Celery("examples")


@app.task
def add(x, y):
    return x + y


@app.task
def multiply(value, factor):
    return value * factor


@app.task
def log_done(message):
    return f"logged: {message}"
