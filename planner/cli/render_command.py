"""``planner render``: not built yet."""

from __future__ import annotations

from .common import app, fail


@app.command("render", hidden=True)
def render_command():
    """Not built yet."""
    fail("'planner render' is not built yet")
