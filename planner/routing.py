"""Where a plan's messages go: each node's queue, resolved through the
app's own router exactly as Celery resolves it when the message is sent
(the task's options, then the signature's ``queue=``/``options``, then
``task_routes``, then ``task_default_queue``), and every queue a run needs
workers on, planner's own helper tasks included.

>>> node_queue(app, charge.s(7))          # doctest: +SKIP
'billing'
>>> plan_queues(app, plan, signatures)    # doctest: +SKIP
{'celery': {'shop.tasks.fetch': ['fetch'], 'planner.exact.segment': []}, 'billing': {'shop.tasks.charge': ['charge']}}
"""

from __future__ import annotations

from typing import Mapping

from .errors import PlannerError


def node_queue(app, sig) -> str | None:
    """The name of the queue ``sig``'s message goes to, or ``None`` when its
    route names only an exchange and routing key (no queue to consume)."""
    return route_queue(app, sig.task, dict(sig.options), tuple(sig.args), dict(sig.kwargs))


def route_queue(app, task_name: str, options: dict | None = None, args: tuple = (),
                kwargs: dict | None = None) -> str | None:
    """The queue Celery's router sends task ``task_name`` to, given the
    message's own ``options`` (as ``Task.apply_async`` merges them: the
    task's execution options first, the message's over them)."""
    from celery.exceptions import QueueNotFound

    task = app.tasks.get(task_name)
    merged = {}
    if task is not None:
        merged = {key: value for key, value in task._get_exec_options().items() if value is not None}
    merged.update({key: value for key, value in (options or {}).items() if value is not None})
    try:
        route = app.amqp.router.route(merged, task_name, args, kwargs or {}, task)
    except QueueNotFound as error:
        raise PlannerError(f"task '{task_name}' is routed to a queue that is not declared: {error} "
                           "(add it to task_queues, or leave task_create_missing_queues on)") from None
    queue = route.get("queue")
    if queue is None:
        return None
    return getattr(queue, "name", None) or str(queue)


def default_queue(app) -> str:
    """The app's ``task_default_queue`` (``celery`` unless configured)."""
    return str(app.conf.task_default_queue or "celery")


def helper_tasks(plan) -> list[str]:
    """planner's own tasks a run of ``plan`` sends (each routed like any task)."""
    from .mapping import map_nodes
    from .plan import leaves

    graph = plan.graph
    mapped = bool(map_nodes(graph))
    if plan.strategy == "exact":
        # Linear links may travel in one segment message (planner.exact decides which).
        linked = any(graph.out_degree(u) == 1 and graph.in_degree(v) == 1 for u, v in graph.edges)
        return ["planner.exact.segment"] * linked + ["planner.exact.map"] * mapped
    return (["planner.gather"] * any(task.gather for task in leaves(plan.root))
            + ["planner.map", "planner.map.collect"] * mapped)


def plan_queues(app, plan, signatures: Mapping) -> dict[str | None, dict[str, list[str]]]:
    """Queue name → {task name → the nodes that send it}: what a run of
    ``plan`` puts on each queue, planner's helper tasks included (with no
    nodes). Key ``None`` holds tasks routed by exchange only (no queue
    name to consume)."""
    queues: dict[str | None, dict[str, list[str]]] = {}
    for name in plan.graph:
        sig = signatures[name]
        queues.setdefault(node_queue(app, sig), {}).setdefault(sig.task, []).append(name)
    for helper in helper_tasks(plan):
        queues.setdefault(route_queue(app, helper), {}).setdefault(helper, [])
    return queues


def consumed_queues(app, plan, signatures: Mapping) -> list[str]:
    """The queues workers started for the run must consume: every named
    queue of :func:`plan_queues`, and where ``planner.noop`` (the embedded
    worker's wake-up call) goes; the default queue first."""
    queues = [queue for queue in plan_queues(app, plan, signatures) if queue is not None]
    for extra in (route_queue(app, "planner.noop"), default_queue(app)):
        if extra is not None and extra not in queues:
            queues.append(extra)
    first = default_queue(app)
    return sorted(queues, key=lambda queue: (queue != first, queues.index(queue)))


def queue_of_nodes(queues: Mapping[str | None, Mapping[str, list[str]]]) -> dict[str, str | None]:
    """Node name → its queue, from :func:`plan_queues`."""
    return {node: queue for queue, tasks in queues.items() for nodes in tasks.values() for node in nodes}
