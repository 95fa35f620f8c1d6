"""A small ETL: extract once, transform three sources in parallel, load the lot."""

import time

from celery import Celery

app = Celery("examples")


@app.task
def extract(day):
    time.sleep(0.1)
    return {"day": day, "batch": f"batch-{day}"}


@app.task
def transform(extracted, source):
    time.sleep(0.2)  # independent work: a group runs these side by side
    return {"source": source, "batch": extracted["batch"], "rows": len(source) * 100}


@app.task
def load(transformed):
    return {"loaded_rows": sum(part["rows"] for part in transformed), "sources": [p["source"] for p in transformed]}


@app.task
def notify(summary):
    return f"loaded {summary['loaded_rows']} rows"
