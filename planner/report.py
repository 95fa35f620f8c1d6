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
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .outcome import FAILURE, LOST, RUNNING, SKIPPED, SUCCESS, UNFINISHED, Progress, RunReport
from .text import printable

STYLES = {SUCCESS: "green", FAILURE: "bold red", LOST: "bold red", SKIPPED: "yellow", UNFINISHED: "dim"}


class PlainProgress:
    """One line per finished node: ``[3/6] orders SUCCESS 0.20 s``; a line
    saying what waits where when the run stands still."""

    def __init__(self, console: Console):
        self.console = console
        self.printed: set[str] = set()

    def update(self, progress: Progress) -> None:
        for name in progress.finished_now:
            if name in self.printed:  # a node is reported once, with its final state
                continue
            node = progress.nodes[name]
            self.printed.add(name)
            duration = f" {node.duration:.2f} s" if node.duration is not None else ""
            error = f" ({node.error})" if node.error else ""
            self._line(f"[{len(self.printed)}/{progress.total}] {printable(name)} {node.state}{duration}{error}")
        if progress.waiting:
            self._line(f"waiting: {progress.waiting}")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

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
        if progress.waiting:
            detail += f" — {escape(progress.waiting)}"
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


def run_id_line(record) -> str:
    """The line ``planner run`` starts with: the run's id and how to follow
    it from elsewhere (a run on the embedded worker lives in this process)."""
    if record.embedded:
        return f"run id: {record.run_id}  (on the embedded worker: it lives in this process)"
    if record.unstored:
        return f"run id: {record.run_id}  (cannot be followed elsewhere: {record.unstored})"
    return f"run id: {record.run_id}  (follow it elsewhere: planner status {record.run_id} --wait)"


def summary_line(report: RunReport) -> str:
    total = len(report.nodes)
    reused = sum(node.reused for node in report.nodes.values())
    parts = [f"{report.count(SUCCESS)} succeeded" + (f" ({reused} reused)" if reused else "")]
    for state, word in ((FAILURE, "failed"), (LOST, "lost"), (SKIPPED, "skipped"), (UNFINISHED, "not finished")):
        if report.count(state):
            parts.append(f"{report.count(state)} {word}")
    where = f" on {report.where}" if report.where else ""
    return f"{report.status}: {total} nodes, {', '.join(parts)} in {report.elapsed:.2f} s{where}"


RESULT_WIDTH = 40  # characters of a result shown in the table (--json has it whole)


def print_report(report: RunReport, console: Console) -> None:
    """The per-node table (state, duration, worker, result or error; a map
    node's name says how many items it ran: ``resize ×5``), a summary line
    and warnings."""
    retried = any(node.tries > 1 for node in report.nodes.values())
    table = Table(show_edge=False, pad_edge=False)
    columns = ("node", "state", "duration", "tries", "worker", "result / error") if retried else \
        ("node", "state", "duration", "worker", "result / error")
    for column in columns:
        table.add_column(column, justify="right" if column in ("duration", "tries") else "left", overflow="fold")
    for node in report.nodes.values():
        duration = f"{node.duration:.3f} s" if node.duration is not None else "-"
        if node.state == SUCCESS:
            outcome = short_result(node.result)
        else:
            outcome = node.error or (f"skipped: {node.reason}" if node.reason else "")
        tries = [str(node.tries or "-")] if retried else []
        name = printable(node.name) + (f" ×{node.items}" if node.items is not None else "")  # a map node's items
        state = node.state
        if report.status == RUNNING and state == UNFINISHED:  # a live run's snapshot (planner status)
            state = RUNNING if node.running else "PENDING"
        if node.reused:  # run --resume: from the report it resumed
            state += " (reused)"
        table.add_row(Text(name), f"[{STYLES.get(node.state, '')}]{state}[/]", duration, *tries,
                      node.worker or "-", Text(outcome))
    console.print(table)
    if report.parameters:
        from .parameters import assignments

        console.print(f"parameters: {printable(assignments(report.parameters))}", markup=False, highlight=False)
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
    """``{"status", "parameters", "nodes": {name: {state, result, error,
    task_id, started, finished, worker, tries, reason}}}``; results that
    are not JSON become their repr."""
    Path(path).write_text(json.dumps(report.as_json(), indent=2, default=repr) + "\n")
