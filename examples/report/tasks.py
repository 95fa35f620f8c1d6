"""Keep results small: create_report stores the report and returns its id;
email_report takes the id, not the report."""

import json
import os
import tempfile
import uuid

from celery import Celery

app = Celery("examples")

STORE = os.path.join(tempfile.gettempdir(), "planner-example-reports")


@app.task
def create_report(title):
    os.makedirs(STORE, exist_ok=True)
    report_id = uuid.uuid4().hex[:12]
    with open(os.path.join(STORE, f"{report_id}.json"), "w") as handle:
        json.dump({"title": title, "rows": list(range(1000))}, handle)
    return report_id


@app.task
def email_report(report_id, to):
    with open(os.path.join(STORE, f"{report_id}.json")) as handle:
        report = json.load(handle)
    return f"sent '{report['title']}' ({len(report['rows'])} rows) to {to}"
