"""``planner run GRAPH``: run a graph on the embedded worker or a cluster."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..stall import DEFAULT_STALL_TIMEOUT
from .common import PARAM_HELP, LoadTimeout, app, conclude, deadline, load, reports_errors
from .plan_command import Strategy


@app.command("run")
@reports_errors
def run_command(
    graph_file: str = typer.Argument(..., metavar="GRAPH", help="Graph file (.py or node-link .json)."),
    local: bool = typer.Option(False, "--local", help="Run on the embedded in-process worker (the default "
                               "when the app has no broker)."),
    broker: Optional[str] = typer.Option(None, "--broker", help="Broker URL of a cluster (redis://, amqp://)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Result backend URL (default: the app's, or "
                                          "the Redis broker)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Start N local worker processes for the run."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Threads of the embedded "
                                              "worker (default 8), or processes per --workers worker (2)."),
    strategy: Strategy = typer.Option(Strategy.auto, "--strategy", help="auto, canvas or exact."),
    graph: str = typer.Option("graph", "--graph", help="Attribute of the graph file holding the DiGraph."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the per-node report as JSON."),
    render_file: Optional[Path] = typer.Option(None, "--render", help="Draw the state-coloured diagram."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, help="Give up after S seconds, loading the "
                                            "graph file included (exit 124)."),
    stall_timeout: float = typer.Option(DEFAULT_STALL_TIMEOUT, "--stall-timeout", min=0, help="End the run (exit 2) "
                                        "after S seconds in which no node started or finished and no worker held "
                                        "one; 0 waits forever."),
    param: list[str] = typer.Option(None, "--param", metavar="NAME=VALUE", help=PARAM_HELP),
    max_result_bytes: int = typer.Option(64 * 1024, "--max-result-bytes", help="Warn about bigger results "
                                         "passed between nodes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no table."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="REPORT", help="Finish the run a --json report "
                                          "describes: reuse the nodes that succeeded there and did not change, "
                                          "run the rest (exact dispatch)."),
):
    """Run the graph and report every node (exit 0 all succeeded, 1 a node
    failed, 2 bad input, infrastructure or a stalled run, 124 timeout)."""
    from rich.console import Console

    from ..report import progress_printer, run_id_line, write_json
    from ..run import run_graph

    started = time.monotonic()
    try:
        with deadline(timeout):
            user_graph, values = load(graph_file, graph, param)
    except LoadTimeout:
        _exit_now(f"timed out after {timeout:g} s while loading {graph_file} (its imports did not finish)", 124)
    previous = None
    if resume is not None:
        from ..resume import load_report

        previous = load_report(resume)
    remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
    errors = Console(stderr=True)
    progress = progress_printer(errors, quiet)

    def started(record) -> None:
        if not quiet:
            errors.print(run_id_line(record), markup=False, highlight=False, soft_wrap=True)

    try:
        report = run_graph(user_graph, local=local, broker=broker, backend=backend, workers=workers,
                           concurrency=concurrency, strategy=strategy.value, timeout=remaining,
                           on_progress=progress.update, max_result_bytes=max_result_bytes,
                           worker_pythonpath=[str(Path(graph_file).resolve().parent)],
                           stall_timeout=stall_timeout, parameters=values, on_start=started,
                           resume=previous)
    except KeyboardInterrupt as interrupt:
        progress.close()
        partial = getattr(interrupt, "report", None)
        if partial is not None and json_file is not None:
            write_json(partial, json_file)  # what finished so far: --resume continues from it
        _exit_now("interrupted", 130)
    finally:
        progress.close()
    conclude(report, quiet=quiet, json_file=json_file, render_file=render_file, timeout=timeout, end=_exit_now)


def _exit_now(message: str, code: int) -> None:
    """One line, then exit without waiting: tasks still running on the
    embedded worker's threads would otherwise hold the process until they end."""
    typer.echo(f"planner: error: {message}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
