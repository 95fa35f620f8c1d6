"""Every canvas planner emits completes on real Celery: a bounded sample of
the differential harness (tests/differential.py) per backend, plus the
shapes Celery is known to mishandle (docs/celery-canvas.md), as graphs.
``make soak`` runs hundreds of graphs per backend."""

from __future__ import annotations

import networkx as nx
import pytest
from differential import backend, risky_graphs
from hypothesis import HealthCheck, Phase, example, given, settings

SAMPLE = {"embedded": 6, "redis": 4, "rabbitmq": 4}


def graph(edges, immutable=()) -> nx.DiGraph:
    shape = nx.DiGraph(edges)
    for node in shape:
        shape.nodes[node]["immutable"] = node in immutable
    return shape


# The table, as graphs (each a canvas Celery hung on, written the way planner used to).
CHORD_IN_GROUP_IN_HEADER = graph([("a", "c"), ("b", "c"), ("a", "d"), ("b", "d"), ("a", "e"), ("b", "e"),
                                  ("d", "f"), ("e", "f"), ("c", "h"), ("f", "h")])
CHAIN_ENDING_IN_GROUP_WITH_CHORD = graph([("a", "b"), ("a", "c"), ("a", "d"), ("c", "e"), ("d", "e"),
                                          ("b", "f"), ("e", "f")])
GROUP_AFTER_GROUP_THEN_MORE = graph([(u, v) for u in "ab" for v in "cd"] + [(u, v) for u in "cd" for v in "ef"]
                                    + [("e", "g"), ("f", "g")])
HEADER_MEMBER_ENDS_IN_GROUP_HOLDING_A_CHORD = graph(
    [("x", "h"), ("a", "b"), ("a", "c"), ("a", "d"), ("c", "e"), ("d", "e"), ("b", "h"), ("e", "h")])
KNOWN = [CHORD_IN_GROUP_IN_HEADER, CHAIN_ENDING_IN_GROUP_WITH_CHORD, GROUP_AFTER_GROUP_THEN_MORE,
         HEADER_MEMBER_ENDS_IN_GROUP_HOLDING_A_CHORD]


@pytest.fixture(scope="module", params=list(SAMPLE))
def runner(request, redis_base_url, tmp_path_factory):
    amqp = None
    if request.param == "rabbitmq":
        amqp = request.getfixturevalue("amqp_url")
    with backend(request.param, redis_base_url, amqp) as running:
        running.folder = tmp_path_factory.mktemp(f"sources-{request.param}")
        yield running


def check(runner, shape) -> None:
    problems = runner.check(shape, runner.folder)
    assert not problems, "\n".join(problems + [f"edges: {sorted(shape.edges)}"])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("shape", KNOWN, ids=["chord-in-group-in-header", "chain-ending-in-group-with-chord",
                                               "group-after-group-then-more", "header-member-ends-in-group"])
def test_the_shapes_celery_mishandles_complete(runner, shape):
    check(runner, shape)


@pytest.mark.timeout(240)
def test_random_series_parallel_graphs_keep_the_contract_on_real_celery(runner):
    @settings(max_examples=SAMPLE[runner.name], deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(shape=risky_graphs())
    @example(shape=graph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)], immutable={2}))  # a transitive edge, a .si
    def one(shape):
        check(runner, shape)

    one()
