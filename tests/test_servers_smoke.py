"""The suite's own infrastructure works: real redis-server, real workers,
and the core canvas (with pre-assigned ids and gathered inputs) on them."""

import networkx as nx
import pytest

from planner.analysis import plan_canvas
from planner.canvas import to_canvas


@pytest.mark.timeout(120)
def test_n_shape_canvas_runs_on_redis_workers(redis_url, workers):
    from workload.tasks import step

    graph = nx.DiGraph([("a", "c"), ("a", "d"), ("b", "d")])
    for node in graph:
        graph.nodes[node]["immutable"] = False
    plan = plan_canvas(graph)
    sigs = {n: step.s(node=n) for n in graph}
    canvas, ids = to_canvas(plan, sigs)
    workers("workload.tasks", redis_url, redis_url)
    app = step.app  # the tasks' own app, pointed at this test's Redis
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    canvas.apply_async()
    results = {n: app.AsyncResult(ids[n]).get(timeout=30) for n in graph}
    assert results["c"]["got"] == "a"
    assert results["d"]["got"] == ["a", "b"]
    assert results["a"]["got"] is None
