"""``planner lint``: not built yet."""

from __future__ import annotations

from .common import app, fail


@app.command("lint", hidden=True)
def lint_command():
    """Not built yet."""
    fail("'planner lint' is not built yet")
