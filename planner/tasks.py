"""Helper tasks that plans may need on the workers.

Workers get them with ``celery -A APP worker --include planner.tasks``.
"""

from __future__ import annotations

from celery import shared_task
from celery import states


class InputNotReady(RuntimeError):
    """A predecessor's result was not in the result store when gathered."""


@shared_task(name="planner.gather", bind=True)
def gather(self, task_ids: list[str], single: bool = False):
    """Fetch the results of finished tasks from the result store: the one
    result when ``single``, else the list in the order given.

    Used where the canvas cannot hand a node exactly its predecessors'
    results (transitive edges, graphs that are not series-parallel); the plan
    orders this step after every one of those predecessors.
    """
    results = []
    for task_id in task_ids:
        meta = self.backend.get_task_meta(task_id)
        if meta.get("status") != states.SUCCESS:
            raise InputNotReady(f"input task {task_id} is {meta.get('status')}, not SUCCESS")
        results.append(meta.get("result"))
    return results[0] if single else results


# The exact-dispatch helpers register themselves on import, so workers
# started with ``--include planner.tasks`` have them too.
from . import exact as _exact  # noqa: E402,F401
