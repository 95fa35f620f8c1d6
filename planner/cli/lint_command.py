"""``planner lint PATH...``: catch misused chains in graph files and in
existing Celery code. Nothing it reads is imported or run (graph files
too, unless ``--import-graphs``)."""

from __future__ import annotations

import typer

from .common import app, fail, reports_errors


@app.command("lint")
@reports_errors
def lint_command(
    paths: list[str] = typer.Argument(None, metavar="PATH", help="Files or directories (*.py, *.json)."),
    format: str = typer.Option("text", "--format", "-f", help="text, json, sarif or github."),
    select: str = typer.Option(None, "--select", help="Comma-separated codes or prefixes to report (default all)."),
    ignore: str = typer.Option(None, "--ignore", help="Comma-separated codes or prefixes not to report."),
    graph: str = typer.Option("graph", "--graph", help="Attribute of graph files holding the DiGraph."),
    report: str = typer.Option(None, "--report", help="The JSON report of 'planner run --json' to check result sizes in."),
    max_result_bytes: str = typer.Option("65536", "--max-result-bytes", help="PLN102 threshold (serialized)."),
    import_graphs: bool = typer.Option(
        False, "--import-graphs",
        help="Load graph files by importing them, as 'planner plan' does: this RUNS THEIR CODE. "
             "By default they are read statically."),
    skip_unrelated: bool = typer.Option(
        False, "--skip-unrelated",
        help="Skip the named files no rule reads (another suffix, a .py that mentions nothing Celery-like, a .json "
             "that is not a node-link graph), as a directory walk does: for pre-commit, which passes every changed "
             "file."),
):
    """Lint Celery canvases and graph files. Exit 0 clean, 1 findings, 2 usage error."""
    from ..lint import LintUsageError, chosen_codes, lint
    from ..lint.formats import FORMATS, as_json, github, sarif, text

    if not paths:
        fail("give at least one PATH to lint (a .py or .json file, or a directory)")
    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got '{format}'")
    if not max_result_bytes.isdigit():
        fail(f"--max-result-bytes must be a whole number of bytes, got '{max_result_bytes}'")
    try:
        result = lint(paths, select, ignore, graph, report, int(max_result_bytes), import_graphs, skip_unrelated)
    except LintUsageError as error:
        fail(str(error))
    findings, notes = result.findings, result.notes
    if format == "json":
        typer.echo(as_json(findings, notes))
    elif format == "sarif":
        typer.echo(sarif(findings, chosen_codes(select, ignore), notes))
    elif format == "github":
        if findings or notes:
            typer.echo(github(findings, notes))
    else:
        typer.echo(text(findings, notes))
    raise typer.Exit(1 if findings else 0)
