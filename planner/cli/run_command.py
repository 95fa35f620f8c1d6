"""``planner run``: not built yet."""

from __future__ import annotations

from .common import app, fail


@app.command("run", hidden=True)
def run_command():
    """Not built yet."""
    fail("'planner run' is not built yet")
