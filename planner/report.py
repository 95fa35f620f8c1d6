"""Showing a run: live progress (a rich bar on a terminal, plain lines
otherwise), the per-node table at the end, and the JSON report file.

>>> show = progress_printer(console)     # doctest: +SKIP
>>> report = run_graph(graph, on_progress=show.update)   # doctest: +SKIP
>>> print_report(report, console)        # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .outcome import FAILURE, SKIPPED, SUCCESS, UNFINISHED, Progress, RunReport

STYLES = {SUCCESS: "green", FAILURE: "bold red", SKIPPED: "yellow", UNFINISHED: "dim"}


class PlainProgress:
    """One line per finished node: ``[3/6] orders SUCCESS 0.20 s``."""

    def __init__(self, console: Console):
        self.console = console
        self.printed = 0

    def update(self, progress: Progress) -> None:
        for name in progress.finished_now:
            node = progress.nodes[name]
            self.printed += 1
            duration = f" {node.duration:.2f} s" if node.duration is not None else ""
            error = f" ({node.error})" if node.error else ""
            self.console.print(f"[{self.printed}/{progress.total}] {name} {node.state}{duration}{error}",
                               markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        pass


class BarProgress:
    """A rich progress bar: nodes done / total, running now, failed."""

    def __init__(self, console: Console, total: int | None = None):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(TextColumn("running"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                       TimeElapsedColumn(), console=console, transient=True)
        self.task = self.bar.add_task("run", total=total, detail="")
        self.bar.start()

    def update(self, progress: Progress) -> None:
        detail = f"{progress.running} running"
        if progress.failed:
            detail += f", [red]{progress.failed} failed[/red]"
        if progress.skipped:
            detail += f", {progress.skipped} skipped"
        self.bar.update(self.task, total=progress.total, completed=progress.done, detail=detail)

    def close(self) -> None:
        self.bar.stop()


class NoProgress:
    def update(self, progress: Progress) -> None:
        pass

    def close(self) -> None:
        pass


def progress_printer(console: Console, quiet: bool = False):
    """The right progress display for ``console``."""
    if quiet:
        return NoProgress()
    return BarProgress(console) if console.is_terminal else PlainProgress(console)


def summary_line(report: RunReport) -> str:
    total = len(report.nodes)
    parts = [f"{report.count(SUCCESS)} succeeded"]
    for state, word in ((FAILURE, "failed"), (SKIPPED, "skipped"), (UNFINISHED, "not finished")):
        if report.count(state):
            parts.append(f"{report.count(state)} {word}")
    where = f" on {report.where}" if report.where else ""
    return f"{report.status}: {total} nodes, {', '.join(parts)} in {report.elapsed:.2f} s{where}"


RESULT_WIDTH = 40  # characters of a result shown in the table (--json has it whole)


def print_report(report: RunReport, console: Console) -> None:
    """The per-node table (state, duration, worker, result or error), a
    summary line and warnings."""
    table = Table(show_edge=False, pad_edge=False)
    for column in ("node", "state", "duration", "worker", "result / error"):
        table.add_column(column, justify="right" if column == "duration" else "left", overflow="fold")
    for node in report.nodes.values():
        duration = f"{node.duration:.3f} s" if node.duration is not None else "-"
        outcome = short_result(node.result) if node.state == SUCCESS else node.error or ""
        table.add_row(node.name, f"[{STYLES.get(node.state, '')}]{node.state}[/]", duration, node.worker or "-",
                      Text(outcome))
    console.print(table)
    console.print(summary_line(report), markup=False, highlight=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False, style="yellow")


def short_result(value) -> str:
    """A result as JSON, cut to :data:`RESULT_WIDTH` characters.

    >>> short_result({"id": 7})
    '{"id": 7}'
    >>> short_result(list(range(30)))
    '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …'
    """
    text = json.dumps(value, default=repr)
    return text if len(text) <= RESULT_WIDTH else text[: RESULT_WIDTH - 1] + "…"


def write_json(report: RunReport, path: str | Path) -> None:
    """``{"status", "nodes": {name: {state, result, error, task_id, started,
    finished, worker}}}``; results that are not JSON become their repr."""
    Path(path).write_text(json.dumps(report.as_json(), indent=2, default=repr) + "\n")
