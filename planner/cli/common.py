"""What every command shares: the typer app, error reporting, graph loading."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Optional

import typer

from ..errors import PlannerError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Plan, render, run and lint Celery workflows declared as networkx DAGs.",
    pretty_exceptions_enable=False,
)


@dataclass
class Settings:
    debug: bool = False


settings = Settings()


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from .. import __version__

        try:
            own = version("planner")
        except PackageNotFoundError:
            own = __version__
        typer.echo(f"planner {own} (celery {version('celery')}, networkx {version('networkx')}, "
                   f"Python {sys.version.split()[0]})")
        raise typer.Exit(0)


@app.callback()
def options(
    version: Optional[bool] = typer.Option(None, "--version", callback=_show_version, is_eager=True,
                                           help="Print planner's version (and Celery's) and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error (anywhere on the "
                               "command line: planner run g.py --debug)."),
) -> None:
    pass


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit."""
    typer.echo(f"planner: error: {message}", err=True)
    raise typer.Exit(code)


def reports_errors(command):
    """Turn PlannerError (and any other surprise) into one line and exit 2;
    ``--debug`` shows the traceback too."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            # The reader went away (`planner plan g.py | head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except PlannerError as error:
            if settings.debug:
                traceback.print_exc()
            fail(str(error).replace("\n", " "))
        except Exception as error:  # never a bare traceback without --debug
            if settings.debug:
                traceback.print_exc()
            fail(f"{type(error).__name__}: {error}".replace("\n", " ") + " (--debug shows the traceback)")

    return wrapper


def load(graph_path: str, attribute: str, params: list[str] | None = None):
    """The graph and the parameters it was built with (``--param NAME=VALUE``
    strings, for a graph file whose ``attribute`` is a function)."""
    from ..graphfile import load_graph_and_parameters
    from ..parameters import parse_assignments

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    return load_graph_and_parameters(graph_path, attribute, parse_assignments(params))


PARAM_HELP = "NAME=VALUE for the graph function's parameter NAME (repeat it); 'planner plan GRAPH --params' lists them."


class LoadTimeout(BaseException):
    """Loading the graph file took longer than ``--timeout`` (a BaseException,
    as KeyboardInterrupt is: the user's ``except Exception`` must not keep it)."""


@contextlib.contextmanager
def deadline(seconds: float | None):
    """Raise :class:`LoadTimeout` in this (main) thread after ``seconds``:
    a graph file's import is the user's code, and may block."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise LoadTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_report(report, path) -> None:
    """Draw the run's plan coloured by its nodes' states (``--render``); a
    problem is a warning: the run's own outcome decides the exit code."""
    try:
        from ..render import render_file
    except ImportError:
        typer.echo("planner: warning: --render needs planner.render, which is not available", err=True)
        return
    states = {name: node.state for name, node in report.nodes.items()}
    durations = {name: node.duration for name, node in report.nodes.items() if node.duration is not None}
    try:
        items = {name: node.items for name, node in report.nodes.items() if node.items is not None}  # map nodes
        for warning in render_file(report.plan, str(path), states=states, durations=durations, items=items):
            typer.echo(f"planner: warning: {warning}", err=True)
    except PlannerError as error:
        typer.echo(f"planner: warning: could not render {path}: {error}", err=True)


def conclude(report, *, quiet: bool, json_file, render_file, timeout: float | None, end=fail,
             timeout_note: str = "") -> None:
    """The end of ``run`` and ``status``: the table, ``--json``,
    ``--render``, then the exit its status calls for (``end(message, code)``
    says why for a timeout, a stall or a lost connection)."""
    from rich.console import Console

    from ..outcome import DISCONNECTED, STALLED, TIMEOUT
    from ..report import print_report, write_json

    if not quiet:
        print_report(report, Console())
    if json_file is not None:
        write_json(report, json_file)
    if render_file is not None:
        render_report(report, render_file)
    if report.status == TIMEOUT:
        done = len(report.nodes) - report.count("UNFINISHED")
        end(f"timed out after {timeout:g} s: {done} of {len(report.nodes)} nodes finished{timeout_note}", 124)
    if report.status == STALLED:
        end(report.stall, 2)
    if report.status == DISCONNECTED:
        end(report.error, 2)
    raise typer.Exit(report.exit_code)
