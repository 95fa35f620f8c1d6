"""Graph analysis: a DAG in, a plan tree out. Pure: no Celery, no I/O.

The decomposition works on the *vertex series-parallel* structure that
Celery's canvas can express:

- a block whose induced subgraph falls apart into weakly connected
  components runs them in parallel (``group``);
- a connected block is cut in series wherever every node before the cut
  precedes every node after it (``chain``; a group followed by more work is a
  ``chord``);
- a connected block with no such cut is not series-parallel. It is cut at a
  level boundary anyway, chosen to raise the critical path least and then to
  add the fewest dependencies; each added dependency is recorded.

Every valid series cut is a prefix of *any* topological order, so one sweep
over the block finds them all. The sweep keeps, incrementally, the sinks of
the prefix, the sources of the suffix and the number of edges between the
two: a cut is valid exactly when those edges form a complete bipartite graph.
Each node changes role at most twice, so a sweep costs O(nodes + edges) of
its block. No transitive closure or reduction is ever computed.

>>> import networkx as nx
>>> g = nx.DiGraph([("extract", "clean_a"), ("extract", "clean_b"),
...                 ("clean_a", "load"), ("clean_b", "load")])
>>> plan = plan_canvas(g)
>>> plan.root
Chain(steps=(Task(name='extract', gather=None), Group(members=(Task(name='clean_a', gather=None), Task(name='clean_b', gather=None))), Task(name='load', gather=None)))
>>> plan.added
()
"""

from __future__ import annotations

import gc
import sys
import threading
from typing import Sequence

import networkx as nx

from .plan import Chain, Chord, Group, Plan, Step, Task

# Above this size a forced cut is taken from the middle half of the block,
# which bounds the recursion depth at O(log n) on graphs that are far from
# series-parallel and keeps planning near-linear.
BALANCE_ABOVE = 64
# Above this size a non-series-parallel block is first cut into runs of
# whole levels of about LAYER_PIECE nodes each, in one pass: on large random
# DAGs, choosing cuts one by one costs O(n log n) sweeps and is no better.
LAYER_ABOVE = 200
LAYER_PIECE = 32


def plan_canvas(graph: nx.DiGraph) -> Plan:
    """Plan ``graph`` as a pure Celery canvas (chain / group / chord).

    ``graph`` has ``str`` nodes, optional node attributes ``immutable``
    (bool, the ``.si()`` flag) and ``cost`` (seconds, default 1). The plan is
    exact (``plan.added == ()``) iff the graph is vertex series-parallel up
    to transitive edges.
    """
    return _run_deep(_plan_canvas, graph)


def _plan_canvas(graph: nx.DiGraph) -> Plan:
    if graph.number_of_nodes() == 0:
        raise ValueError("cannot plan an empty graph")
    decomposer = _Decomposer(graph)
    structure = decomposer.decompose(list(range(len(decomposer.names))))
    root = _InputAssigner(graph).assign(structure, None)
    return Plan(graph=graph, root=root, added=tuple(decomposer.added), strategy="canvas")


def _run_deep(function, *args):
    """Run a recursive function in a thread with a large stack: plan trees of
    deeply nested graphs are deep, and Python's default stack is not."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    collecting = gc.isenabled()
    sys.setrecursionlimit(max(old_limit, 200_000))
    threading.stack_size(512 * 1024 * 1024)
    # Planning allocates many small acyclic objects: the cyclic collector would
    # rescan the caller's whole graph (signatures and all) again and again.
    gc.disable()
    try:
        thread = threading.Thread(target=target, name="planner-analysis")
        thread.start()
        thread.join()
    finally:
        if collecting:
            gc.enable()
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _Decomposer:
    """Series/parallel decomposition over integer node ids in topological order."""

    def __init__(self, graph: nx.DiGraph):
        order = list(nx.topological_sort(graph))
        index = {node: i for i, node in enumerate(order)}
        self.names = [str(node) for node in order]
        self.succ = [[index[w] for w in graph.successors(v)] for v in order]
        self.pred = [[index[u] for u in graph.predecessors(v)] for v in order]
        self.cost = [float(graph.nodes[v].get("cost", 1) or 0) for v in order]
        self.added: list[tuple[str, str]] = []
        # Membership stamps: node v is in the current block iff stamp[v] == token.
        self.stamp = [0] * len(order)
        self.token = 0
        self.scratch_a, self.scratch_b = [0] * len(order), [0] * len(order)
        self.flag_a, self.flag_b = [False] * len(order), [False] * len(order)

    def _enter(self, block: Sequence[int]) -> int:
        self.token += 1
        for v in block:
            self.stamp[v] = self.token
        return self.token

    def decompose(self, block: list[int]) -> Step:
        if len(block) == 1:
            return Task(self.names[block[0]])
        components = self._components(block)
        if len(components) > 1:
            return Group(tuple(self.decompose(c) for c in components))
        if len(block) == 2:  # a connected pair is one edge: a chain, no sweep needed
            return Chain((Task(self.names[block[0]]), Task(self.names[block[1]])))
        cuts = [k for k, valid, _ in self._sweep(block) if valid]
        if cuts:
            pieces = _split(block, cuts)
        else:
            pieces = self._forced_cut(block)
        return make_chain([self.decompose(piece) for piece in pieces])

    def _components(self, block: list[int]) -> list[list[int]]:
        token = self._enter(block)
        stamp, succ, pred = self.stamp, self.succ, self.pred
        # A node's component is its stamp: token + 1 + c marks "seen, in component c"
        # (fresh tokens are skipped past them, so no stamp is ever reused).
        count = 0
        for start in block:
            if stamp[start] != token:
                continue
            mark = token + 1 + count
            stamp[start] = mark
            stack = [start]
            while stack:
                v = stack.pop()
                for neighbours in (succ[v], pred[v]):
                    for w in neighbours:
                        if stamp[w] == token:
                            stamp[w] = mark
                            stack.append(w)
            count += 1
        self.token += count
        if count == 1:
            return [block]
        buckets: list[list[int]] = [[] for _ in range(count)]
        for v in block:  # members keep the block's (topological) order
            buckets[stamp[v] - token - 1].append(v)
        return buckets

    def _sweep(self, order: list[int]):
        """For each cut position k (prefix ``order[:k+1]``), yield
        ``(k, valid, missing)``: whether every prefix sink has an edge to
        every suffix source, and how many such edges are missing."""
        token = self._enter(order)
        stamp, succ, pred = self.stamp, self.succ, self.pred
        # Per-node scratch arrays: set for this block, flags cleared after.
        succ_in_prefix, pred_in_suffix = self.scratch_a, self.scratch_b
        is_sink, is_source = self.flag_a, self.flag_b  # prefix sinks, suffix sources
        sources = 0
        for v in order:
            succ_in_prefix[v] = 0
            inside = len([u for u in pred[v] if stamp[u] == token])
            pred_in_suffix[v] = inside
            is_sink[v] = False
            is_source[v] = inside == 0
            sources += inside == 0
        sinks = 0
        cross = 0  # edges from prefix sinks to suffix sources
        results = []
        for k, v in enumerate(order[:-1]):
            # v leaves the suffix, where it was a source (its preds come first).
            is_source[v] = False
            sources -= 1
            cross -= sum(map(is_sink.__getitem__, pred[v]))
            for w in succ[v]:
                if stamp[w] == token:
                    pred_in_suffix[w] -= 1
                    if pred_in_suffix[w] == 0:
                        is_source[w] = True
                        sources += 1
                        cross += sum(map(is_sink.__getitem__, pred[w]))
            for u in pred[v]:
                if stamp[u] == token:
                    succ_in_prefix[u] += 1
                    if succ_in_prefix[u] == 1:
                        is_sink[u] = False
                        sinks -= 1
                        cross -= sum(map(is_source.__getitem__, succ[u]))
            is_sink[v] = True
            sinks += 1
            cross += sum(map(is_source.__getitem__, succ[v]))
            missing = sinks * sources - cross
            results.append((k, missing == 0, missing))
        for v in order:  # flags of nodes outside the block must read False
            is_sink[v] = is_source[v] = False
        return results

    def _forced_cut(self, block: list[int]) -> list[list[int]]:
        """Cut a connected, non-series-parallel block at the level boundary
        that raises the critical path least, then adds fewest dependencies."""
        token = self._enter(block)
        stamp, succ, pred, cost = self.stamp, self.succ, self.pred, self.cost
        level: dict[int, int] = {}
        for v in block:  # block is in topological order
            level[v] = 1 + max((level[u] for u in pred[v] if stamp[u] == token), default=-1)
        position = {v: i for i, v in enumerate(block)}
        order = sorted(block, key=lambda v: (level[v], position[v]))
        m = len(order)
        if m > LAYER_ABOVE:
            return self._layer_cut(order, level, position)
        finish: dict[int, float] = {}  # earliest finish within the block
        for v in block:
            finish[v] = cost[v] + max((finish[u] for u in pred[v] if stamp[u] == token), default=0.0)
        tail: dict[int, float] = {}  # longest path starting at v within the block
        for v in reversed(block):
            tail[v] = cost[v] + max((tail[w] for w in succ[v] if stamp[w] == token), default=0.0)
        prefix_cp = []
        best = 0.0
        for v in order:
            best = max(best, finish[v])
            prefix_cp.append(best)
        suffix_cp = [0.0] * (m + 1)
        for i in range(m - 1, -1, -1):
            suffix_cp[i] = max(suffix_cp[i + 1], tail[order[i]])
        sweep = self._sweep(order)
        candidates = [k for k, _, _ in sweep if level[order[k]] != level[order[k + 1]]]
        if m > BALANCE_ABOVE:
            middle = [k for k in candidates if m / 4 <= k + 1 <= 3 * m / 4]
            candidates = middle or candidates
        chosen = min(
            candidates,
            key=lambda k: (round(prefix_cp[k] + suffix_cp[k + 1], 9), sweep[k][2], abs(2 * k + 2 - m)),
        )
        before, after = order[: chosen + 1], order[chosen + 1 :]
        self._record_added(before, after)
        # Sub-blocks keep topological order for the recursive sweeps.
        return [sorted(before, key=position.__getitem__), sorted(after, key=position.__getitem__)]

    def _layer_cut(self, order: list[int], level: dict, position: dict) -> list[list[int]]:
        """Cut a large block (``order`` sorted by level) at the first level
        boundary after every ``LAYER_PIECE`` nodes."""
        pieces: list[list[int]] = [[]]
        for i, v in enumerate(order):
            if len(pieces[-1]) >= LAYER_PIECE and level[v] != level[order[i - 1]]:
                pieces.append([])
            pieces[-1].append(v)
        if len(pieces) == 1:  # one huge level run: cut at the middle boundary
            boundaries = [i for i in range(1, len(order)) if level[order[i]] != level[order[i - 1]]]
            middle = min(boundaries, key=lambda i: abs(2 * i - len(order)))
            pieces = [order[:middle], order[middle:]]
        for before, after in zip(pieces, pieces[1:], strict=False):
            self._record_added(before, after)
        return [sorted(piece, key=position.__getitem__) for piece in pieces]

    def _record_added(self, before: list[int], after: list[int]) -> None:
        self._enter(after)
        token = self.token
        in_after = self.stamp
        before_set = set(before)
        sinks = [v for v in before if not any(w in before_set for w in self.succ[v])]
        sources = [w for w in after if not any(in_after[u] == token for u in self.pred[w])]
        for v in sinks:
            direct = set(self.succ[v])
            for w in sources:
                if w not in direct:
                    self.added.append((self.names[v], self.names[w]))


def _split(block: list[int], cuts: list[int]) -> list[list[int]]:
    pieces, start = [], 0
    for k in cuts:
        pieces.append(block[start : k + 1])
        start = k + 1
    pieces.append(block[start:])
    return pieces


def make_chain(steps: Sequence[Step]) -> Step:
    """Sequence ``steps`` as one flat chain, as a person writes
    ``chain(a, group(b, c), d)``: nested chains are spliced, groups stay in
    place (Celery runs a group followed by more work as a chord), so the
    tree's depth follows nesting only, never the graph's length.

    >>> make_chain([Task("a"), Group((Task("b"), Task("c"))), Chain((Task("d"), Task("e")))])
    Chain(steps=(Task(name='a', gather=None), Group(members=(Task(name='b', gather=None), Task(name='c', gather=None))), Task(name='d', gather=None), Task(name='e', gather=None)))
    """
    flat: list[Step] = []
    for step in steps:
        flat.extend(step.steps if isinstance(step, Chain) else (step,))
    return flat[0] if len(flat) == 1 else Chain(tuple(flat))


def output(step: Step):
    """What a step hands on, as Celery computes it: a task its own result, a
    chain its last step's, a group the list of its members', a chord its
    body's. Results are named by node: ``'a'`` or nested tuples of names."""
    while isinstance(step, (Chain, Chord)):
        step = step.steps[-1] if isinstance(step, Chain) else step.body
    if isinstance(step, Group):
        return tuple(output(member) for member in step.members)
    return step.name


def contract_input(graph: nx.DiGraph, node: str):
    """What the graph contract says ``node`` receives, in :func:`output`'s
    terms: ``None`` (nothing), one predecessor's name, or the tuple of all
    predecessors in ``graph.predecessors`` order."""
    preds = tuple(str(p) for p in graph.predecessors(node))
    if not preds:
        return None
    return preds[0] if len(preds) == 1 else preds


class _InputAssigner:
    """Decide, for each task, whether the canvas delivers its contract input
    (``gather=None``), must be told to take nothing (``()``), or needs its
    input fetched from its predecessors (``gather=preds``).

    ``assign`` returns the new step with its :func:`output`, computed bottom
    up so deep chord nesting stays linear."""

    def __init__(self, graph: nx.DiGraph):
        self.graph = graph

    def assign(self, step: Step, incoming) -> Step:
        return self._assign(step, incoming)[0]

    def _assign(self, step: Step, incoming):
        if isinstance(step, Task):
            if self.graph.nodes[step.name].get("immutable") or incoming == contract_input(self.graph, step.name):
                return Task(step.name), step.name
            preds = tuple(str(p) for p in self.graph.predecessors(step.name))
            return Task(step.name, preds), step.name
        if isinstance(step, Chain):
            steps = []
            parts = step.steps
            for position, sub in enumerate(parts):
                if isinstance(sub, Group) and position + 1 < len(parts):
                    # A group followed by more work: Celery runs it as a chord header.
                    sub, incoming = self._assign(sub, incoming)
                    sub, incoming = self._order_for_next(sub, incoming, parts[position + 1])
                else:
                    sub, incoming = self._assign(sub, incoming)
                steps.append(sub)
            return Chain(tuple(steps)), incoming
        if isinstance(step, Group):
            pairs = [self._assign(m, incoming) for m in step.members]
            return Group(tuple(m for m, _ in pairs)), tuple(out for _, out in pairs)
        # A chord (hand-built trees only; analysis writes chains) runs as its flat chain would.
        header, header_output = self._assign(step.header, incoming)
        header, header_output = self._order_for_next(header, header_output, step.body)
        body, body_output = self._assign(step.body, header_output)
        return Chord(header, body), body_output

    def _order_for_next(self, header: Group, outputs: tuple, following: Step):
        """Order a chord header so the task after it gets its predecessors'
        results in the contract's order, when that is all the header is."""
        head = following.steps[0] if isinstance(following, Chain) else following
        if not isinstance(head, Task) or self.graph.nodes[head.name].get("immutable"):
            return header, outputs
        wanted = contract_input(self.graph, head.name)
        if not isinstance(wanted, tuple) or outputs == wanted or sorted(map(str, outputs)) != sorted(wanted):
            return header, outputs
        rank = {name: i for i, name in enumerate(wanted)}
        order = sorted(range(len(outputs)), key=lambda i: rank[outputs[i]])
        return Group(tuple(header.members[i] for i in order)), tuple(outputs[i] for i in order)
