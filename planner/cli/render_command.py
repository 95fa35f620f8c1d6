"""``planner render GRAPH -o FILE``: draw the plan (Graphviz or Mermaid)."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from .common import PARAM_HELP, app, load, reports_errors
from .diffing import DIFF_HELP
from .plan_command import Strategy


class DiagramFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    markdown = "markdown"
    svg = "svg"
    png = "png"
    pdf = "pdf"


@app.command("render")
@reports_errors
def render_command(
    graph_file: str = typer.Argument(..., metavar="GRAPH", help="Graph file (.py or node-link .json)."),
    output: str = typer.Option(
        "-", "--output", "-o", metavar="FILE",
        help="Where to write: .svg/.png/.pdf (needs Graphviz's dot), .dot, .mmd, .md (Mermaid block); - for stdout.",
    ),
    format: Optional[DiagramFormat] = typer.Option(
        None, "--format", "-f", help="Override the extension; for stdout: dot (default) or mermaid."
    ),
    graph: str = typer.Option("graph", "--graph", help="Attribute of the graph file holding the DiGraph."),
    strategy: Strategy = typer.Option(Strategy.auto, "--strategy", help="auto, canvas or exact."),
    collapse: bool = typer.Option(False, "--collapse", help="Fold runs of 3+ plain chain steps into one box."),
    param: list[str] = typer.Option(None, "--param", metavar="NAME=VALUE", help=PARAM_HELP),
    diff: str = typer.Option(None, "--diff", metavar="OLD", help=DIFF_HELP + " Draws OLD's removed nodes and "
                             "edges too, and marks what was added or changed."),
    check: bool = typer.Option(False, "--check", help="Write nothing: exit 1 if FILE (.dot, .mmd, .md) is not "
                               "the diagram this command would write, 0 if it is."),
):
    """Draw the plan: clusters for chains, groups and chords; dependencies,
    added dependencies (dashed) and the critical path. Nothing runs."""
    from ..errors import PlannerError
    from ..planning import make_plan
    from ..render import format_for, render_bytes, render_file, stale

    chosen = format.value if format else None
    if output == "-" and chosen not in (None, "dot", "mermaid", "markdown"):
        raise PlannerError(f"--format {chosen} goes to a file: give one with -o (stdout takes dot, mermaid or markdown)")
    if check and output == "-":
        raise PlannerError("--check compares with a file: give the committed diagram with -o FILE")
    if check:
        format_for(output, chosen)  # a bad extension is a usage error before anything loads
    if diff is not None:
        from .diffing import plan_with_diff

        plan, _, found = plan_with_diff(graph_file, diff, graph, param, strategy.value)
    else:
        plan, found = make_plan(load(graph_file, graph, param)[0], strategy.value), None
    if check:
        problem, warnings = stale(plan, output, chosen, collapse=collapse, diff=found)
        _warn(warnings)
        if problem:
            typer.echo(f"planner: {problem} (update it: planner render {' '.join(_command_words(graph_file, diff, output))})",
                       err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is current")
        return
    if output == "-":
        data, warnings = render_bytes(plan, format_for(output, chosen or "dot"), collapse=collapse, diff=found)
        _warn(warnings)
        typer.echo(data.decode(), nl=False)
        return
    _warn(render_file(plan, output, chosen, collapse=collapse, diff=found))
    typer.echo(f"wrote {output}")


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        typer.echo(f"planner: warning: {warning}", err=True)


def _command_words(graph_file: str, diff: str | None, output: str) -> list[str]:
    """The command that writes the diagram, to tell how to update it (other
    options as given are the user's to repeat)."""
    import shlex

    words = [graph_file, "-o", output] + (["--diff", diff] if diff else [])
    return [shlex.quote(word) for word in words]
