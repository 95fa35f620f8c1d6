"""``planner plan GRAPH``: show how a graph becomes a Celery canvas."""

from __future__ import annotations

import json
from enum import Enum

import typer

from .common import PARAM_HELP, app, load, reports_errors
from .diffing import DIFF_HELP


class PlanFormat(str, Enum):
    text = "text"
    python = "python"
    json = "json"


class Strategy(str, Enum):
    auto = "auto"
    canvas = "canvas"
    exact = "exact"


@app.command("plan")
@reports_errors
def plan_command(
    graph_file: str = typer.Argument(..., metavar="GRAPH", help="Graph file (.py or node-link .json)."),
    format: PlanFormat = typer.Option(PlanFormat.text, "--format", "-f", help="text, python or json."),
    graph: str = typer.Option("graph", "--graph", help="Attribute of the graph file holding the DiGraph."),
    strategy: Strategy = typer.Option(Strategy.auto, "--strategy", help="auto, canvas or exact."),
    param: list[str] = typer.Option(None, "--param", metavar="NAME=VALUE", help=PARAM_HELP),
    params: bool = typer.Option(False, "--params", help="List the graph function's parameters (type, default) "
                                "and exit."),
    diff: str = typer.Option(None, "--diff", metavar="OLD", help=DIFF_HELP + " Text: what changed; JSON: the "
                             "plan with a \"diff\" key."),
):
    """Show the plan: the nested canvas and a summary (with --diff: what changed)."""
    from ..describe import plan_json, summarize, tree_lines
    from ..planning import make_plan, signatures
    from ..source import to_python
    from ..text import printable

    if params:
        _list_parameters(graph_file, graph, format)
        return
    if diff is not None:
        _show_diff(graph_file, diff, graph, param, strategy.value, format)
        return
    user_graph, values = load(graph_file, graph, param)
    plan = make_plan(user_graph, strategy.value)
    if format is PlanFormat.python:
        typer.echo(to_python(plan, signatures(user_graph)), nl=False)
        return
    if format is PlanFormat.json:
        typer.echo(plan_json(plan, parameters=values))
        return
    if plan.strategy == "exact":
        # The tree is the canvas decomposition; exact dispatch does not impose its ordering.
        typer.echo("exact dispatch: each node is sent when its own predecessors finish; its canvas shape:")
    lines = [*tree_lines(plan), ""]
    if values:
        from ..parameters import assignments

        lines.append(f"parameters:      {assignments(values)}")
    lines += summary_lines(summarize(plan))
    typer.echo("\n".join(map(printable, lines)))  # one write: a 100k-node tree is 100k lines


def _show_diff(graph_file: str, old: str, attribute: str, param, strategy: str, format: "PlanFormat") -> None:
    from ..describe import plan_json
    from ..diff import diff_lines
    from ..errors import PlannerError
    from ..text import printable
    from .diffing import plan_with_diff

    if format is PlanFormat.python:
        raise PlannerError("--diff shows what changed as text or json, not python")
    plan, values, found = plan_with_diff(graph_file, old, attribute, param, strategy)
    if format is PlanFormat.json:
        typer.echo(plan_json(plan, parameters=values, diff=found.as_dict()))
        return
    typer.echo(printable(f"{graph_file} against {old}:"))
    for line in diff_lines(found):
        typer.echo(printable(line))


def _list_parameters(graph_file: str, attribute: str, format: "PlanFormat") -> None:
    from ..graphfile import graph_parameters
    from ..parameters import TYPE_NAMES, as_json

    found = graph_parameters(graph_file, attribute)
    if format is PlanFormat.json:
        typer.echo(json.dumps([{"name": p.name, "type": TYPE_NAMES[p.kind], "required": p.required,
                                **({} if p.required else {"default": as_json({p.name: p.default})[p.name]})}
                               for p in found], indent=2))
        return
    if not found:
        what = "a node-link JSON graph" if graph_file.endswith(".json") else f"'{attribute}'"
        typer.echo(f"{graph_file}: {what} takes no parameters")
    for parameter in found:
        typer.echo(parameter.describe())


def summary_lines(summary: dict) -> list[str]:
    def names(items, limit=8):
        shown = ", ".join(items[:limit])
        return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")

    segments = summary["linear_segments"]
    canvas = summary["canvas"]
    lines = [
        f"strategy:        {summary['strategy']} — {summary['reason']}",
        f"nodes / edges:   {summary['nodes']} / {summary['edges']}",
        f"linear segments: {len(segments)}" + (f" ({names([' → '.join(s) for s in segments], 4)})" if segments else ""),
        f"fan-outs:        {len(summary['fan_outs'])}" + (f" ({names(summary['fan_outs'])})" if summary["fan_outs"] else ""),
        f"fan-ins:         {len(summary['fan_ins'])}" + (f" ({names(summary['fan_ins'])})" if summary["fan_ins"] else ""),
        f"width / depth:   {summary['width']} / {summary['depth']}",
        f"critical path:   {summary['critical_path_cost']:g} s: {names(summary['critical_path'], 12)}",
        "canvas:          " + ", ".join(_count(canvas[kind], kind) for kind in ("chain", "group", "chord")),
    ]
    if summary.get("map_nodes"):
        lines.append(f"map nodes:       {len(summary['map_nodes'])} ({names(summary['map_nodes'])}: once per item of "
                     "a list known at run time)")
    if summary["gathered_inputs"] and summary["strategy"] != "exact":
        lines.append(f"gathered inputs: {summary['gathered_inputs']} (planner.tasks.gather on the workers)")
    added = summary["added_dependencies"]
    if added:
        lines.append(f"added dependencies: {len(added)} (ordering the graph does not have; "
                     "each with what it alone adds to the critical path)")
        costs = summary["added_dependency_costs"]
        lines += [f"  {u} → {v}  +{cost:g} s" for (u, v), cost in zip(added[:50], costs, strict=False)]
        if len(added) > 50:
            lines.append(f"  … {len(added) - 50} more (--format json lists all)")
    else:
        lines.append("added dependencies: none (the plan is exact)")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
