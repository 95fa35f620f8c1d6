"""``planner lint PATH...``: catch misused chains in graph files and in
existing Celery code (read statically, never imported)."""

from __future__ import annotations

import typer

from .common import app, fail, reports_errors


@app.command("lint")
@reports_errors
def lint_command(
    paths: list[str] = typer.Argument(None, metavar="PATH", help="Files or directories (*.py, *.json)."),
    format: str = typer.Option("text", "--format", "-f", help="text, json or sarif."),
    select: str = typer.Option(None, "--select", help="Comma-separated codes or prefixes to report (default all)."),
    ignore: str = typer.Option(None, "--ignore", help="Comma-separated codes or prefixes not to report."),
    graph: str = typer.Option("graph", "--graph", help="Attribute of graph files holding the DiGraph."),
    report: str = typer.Option(None, "--report", help="The JSON report of 'planner run --json' to check result sizes in."),
    max_result_bytes: str = typer.Option("65536", "--max-result-bytes", help="PLN102 threshold (serialized)."),
):
    """Lint Celery canvases and graph files. Exit 0 clean, 1 findings, 2 usage error."""
    from ..lint import LintUsageError, chosen_codes, lint_paths
    from ..lint.formats import FORMATS, as_json, sarif, text

    if not paths:
        fail("give at least one PATH to lint (a .py or .json file, or a directory)")
    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got '{format}'")
    if not max_result_bytes.isdigit():
        fail(f"--max-result-bytes must be a whole number of bytes, got '{max_result_bytes}'")
    try:
        findings = lint_paths(paths, select, ignore, graph, report, int(max_result_bytes))
    except LintUsageError as error:
        fail(str(error))
    if format == "json":
        typer.echo(as_json(findings))
    elif format == "sarif":
        typer.echo(sarif(findings, chosen_codes(select, ignore)))
    else:
        typer.echo(text(findings))
    raise typer.Exit(1 if findings else 0)
