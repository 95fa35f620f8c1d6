"""Sending a plan: one canvas, or the exact dispatcher's roots; and
stopping what has not run yet.

>>> exact_run = submit(plan, signatures, app, task_ids)   # doctest: +SKIP
>>> cancel(app, nodes, exact_run)                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from typing import Mapping

from .outcome import UNFINISHED
from .plan import Plan


def submit(plan: Plan, signatures: Mapping, app, task_ids: Mapping[str, str]) -> str | None:
    """Send the plan: one canvas, or the exact dispatcher's roots (then
    return the exact run's id)."""
    if plan.strategy == "exact":
        from . import exact

        return exact.submit(plan, signatures, app, task_ids)
    from .canvas import to_canvas

    canvas, _ = to_canvas(plan, signatures, task_ids)
    canvas.apply_async()
    return None


def tagged(sig, header: str, run_id: str):
    """A clone of ``sig`` whose messages carry the run's header (so workers
    record the node's start time)."""
    clone = sig.clone()
    headers = dict(clone.options.get("headers") or {})
    headers[header] = run_id
    clone.set(headers=headers)
    return clone


def cancel(app, nodes: Mapping, exact_run: str | None) -> None:
    """Stop what has not run: revoke the unfinished nodes' task ids (workers
    drop those messages, even ones sent later) and, for an exact run, stop
    its dispatch (nodes a segment message would run inline have no message
    of their own to revoke)."""
    if exact_run is not None:
        from . import exact

        with contextlib.suppress(Exception):
            exact.cancel(app, exact_run)
    pending = [node.task_id for node in nodes.values() if node.state == UNFINISHED]
    if pending and not str(app.conf.broker_url).startswith("memory"):
        with contextlib.suppress(Exception):
            app.control.revoke(pending)

