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
# Found by the soak: a header member chain(group(0, 1), group(chain(2, 3), 4)) ends in a group; once
# closed by celery.accumulate, its two groups in a row are followed by more (ChordError on embedded).
CLOSED_MEMBER_WITH_GROUPS_IN_A_ROW = graph(
    [("0", "2"), ("0", "4"), ("1", "14"), ("1", "2"), ("1", "4"), ("10", "11"), ("11", "12"), ("11", "13"),
     ("12", "14"), ("12", "15"), ("12", "16"), ("12", "17"), ("13", "14"), ("13", "15"), ("13", "16"),
     ("13", "17"), ("17", "18"), ("2", "18"), ("2", "3"), ("3", "14"), ("3", "8"), ("3", "9"), ("4", "8"),
     ("4", "9"), ("5", "6"), ("6", "7"), ("7", "8"), ("7", "9"), ("8", "14"), ("8", "15"), ("8", "16"),
     ("8", "17"), ("9", "14"), ("9", "15"), ("9", "16"), ("9", "17")])
KNOWN = [CHORD_IN_GROUP_IN_HEADER, CHAIN_ENDING_IN_GROUP_WITH_CHORD, GROUP_AFTER_GROUP_THEN_MORE,
         HEADER_MEMBER_ENDS_IN_GROUP_HOLDING_A_CHORD, CLOSED_MEMBER_WITH_GROUPS_IN_A_ROW]


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
                                               "group-after-group-then-more", "header-member-ends-in-group",
                                               "closed-member-with-groups-in-a-row"])
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
