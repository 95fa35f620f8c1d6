"""What every command shares: the typer app, error reporting, graph loading."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from dataclasses import dataclass

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


def load(graph_path: str, attribute: str):
    from ..graphfile import load_graph

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    return load_graph(graph_path, attribute)
