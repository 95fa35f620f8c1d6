"""``planner render GRAPH -o FILE``: draw the plan (Graphviz or Mermaid)."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from .common import PARAM_HELP, app, load, reports_errors
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
):
    """Draw the plan: clusters for chains, groups and chords; dependencies,
    added dependencies (dashed) and the critical path. Nothing runs."""
    from ..errors import PlannerError
    from ..planning import make_plan
    from ..render import format_for, render_bytes, render_file

    chosen = format.value if format else None
    if output == "-" and chosen not in (None, "dot", "mermaid", "markdown"):
        raise PlannerError(f"--format {chosen} goes to a file: give one with -o (stdout takes dot, mermaid or markdown)")
    plan = make_plan(load(graph_file, graph, param)[0], strategy.value)
    if output == "-":
        data, warnings = render_bytes(plan, format_for(output, chosen or "dot"), collapse=collapse)
        for warning in warnings:
            typer.echo(f"planner: warning: {warning}", err=True)
        typer.echo(data.decode(), nl=False)
        return
    for warning in render_file(plan, output, chosen, collapse=collapse):
        typer.echo(f"planner: warning: {warning}", err=True)
    typer.echo(f"wrote {output}")
