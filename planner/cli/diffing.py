"""``--diff OLD`` for ``plan`` and ``render``: load and plan both graphs,
then compare them (:mod:`planner.diff`). ``OLD`` is a graph file, or
``REV:PATH`` read from git (:mod:`planner.revision`)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from .common import load

DIFF_HELP = ("Compare with OLD: a graph file, or REV:PATH from git (HEAD~1:pipelines/etl.py, "
             "origin/main:pipelines/etl.py).")


def plan_with_diff(graph_file: str, old: str, attribute: str, params: list[str] | None, strategy: str):
    """The new graph's plan, the parameters it was built with, and its
    :class:`~planner.diff.PlanDiff` against ``old``.

    The new graph is loaded first. Celery registers a task name once, so
    where the old graph's tasks (its sibling ``tasks.py`` at ``REV``, say)
    have the names of the new one's, the old graph's signatures get the
    new tasks: the old graph is planned against the tasks as they are now,
    and their arity is not checked against it."""
    from ..diff import plan_diff
    from ..errors import PlannerError
    from ..planning import make_plan, signatures
    from ..revision import checked_out, looks_like_revision

    new_graph, values = load(graph_file, attribute, params)
    new_plan = make_plan(new_graph, strategy)
    with _quiet_duplicate_names():
        if looks_like_revision(old):
            with checked_out(old) as old_path:
                old_graph = _load_old(str(old_path), attribute, params, old)
                old_plan = _plan_old(old_graph, strategy, old)
        else:
            if not Path(old).is_file():
                raise PlannerError(f"--diff {old}: no such graph file (nor REV:PATH, a file at a git revision)")
            old_graph = _load_old(old, attribute, params, old)
            old_plan = _plan_old(old_graph, strategy, old)
        diff = plan_diff(old_plan, new_plan, signatures(old_graph), signatures(new_graph),
                         old_source=old, new_source=graph_file)
    return new_plan, values, diff


@contextlib.contextmanager
def _quiet_duplicate_names():
    """Without Celery's warning about each task name the old graph's tasks
    share with the new one's: the two versions of one project's tasks do."""
    import celery.exceptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(celery.exceptions, "DuplicateTaskNameWarning", Warning))
        yield


def _load_old(path: str, attribute: str, params: list[str] | None, shown: str):
    """The old graph, built with the ``--param`` values its own function
    takes (a parameter the new graph added is not passed to the old one)."""
    from ..errors import PlannerError
    from ..graphfile import graph_parameters, load_graph_and_parameters
    from ..parameters import parse_assignments

    if params:
        taken = {parameter.name for parameter in graph_parameters(path, attribute)}
        params = [text for text in params if text.partition("=")[0].strip() in taken]
    try:
        return load_graph_and_parameters(path, attribute, parse_assignments(params), check_arity=False)[0]
    except PlannerError as error:
        if str(error).startswith((path, shown)):
            raise
        raise type(error)(f"--diff {shown}: {error}") from error


def _plan_old(graph, strategy: str, shown: str):
    from ..errors import PlannerError
    from ..planning import make_plan

    try:
        return make_plan(graph, strategy)
    except PlannerError as error:
        raise type(error)(f"--diff {shown}: {error}") from error
