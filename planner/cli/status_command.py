"""``planner status RUN_ID``: the table, JSON and diagram of any run, live
or finished, from any machine that reaches its result backend; ``--wait``
follows it to the end as ``planner run`` does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..stall import DEFAULT_STALL_TIMEOUT
from .common import app, conclude, reports_errors


@app.command("status")
@reports_errors
def status_command(
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="The id 'planner run' printed (or Run.id)."),
    broker: Optional[str] = typer.Option(None, "--broker", help="Broker URL (default: $CELERY_BROKER_URL); "
                                         "lets --wait ask workers what they hold."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Result backend URL holding the run (default: "
                                          "$CELERY_RESULT_BACKEND, or the Redis broker)."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the per-node report as JSON (as run)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run to its end, with run's progress display."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Stop waiting after S seconds (exit "
                                            "124); the run goes on."),
    render_file: Optional[Path] = typer.Option(None, "--render", help="Draw the state-coloured diagram."),
    stall_timeout: float = typer.Option(DEFAULT_STALL_TIMEOUT, "--stall-timeout", min=0, help="With --wait and "
                                        "--broker: stop waiting (exit 2) after S seconds in which no node started "
                                        "or finished and no worker held one; 0 waits forever."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no table."),
):
    """Show a run by id (exit 0 succeeded or still running, 1 a node failed
    or the run was cancelled, 2 no such run, an unreachable backend or a
    stalled run, 124 --wait timed out)."""
    from rich.console import Console

    from ..api import attach
    from ..report import progress_printer

    run = attach(run_id, broker=broker or os.environ.get("CELERY_BROKER_URL"),
                 backend=backend or os.environ.get("CELERY_RESULT_BACKEND"))
    if wait:
        progress = progress_printer(Console(stderr=True), quiet)
        try:
            report = run.wait(timeout, on_progress=progress.update, stall_timeout=stall_timeout)
        finally:
            progress.close()
    else:
        report = run.report()
    conclude(report, quiet=quiet, json_file=json_file, render_file=render_file, timeout=timeout,
             timeout_note=" (the run goes on)")
