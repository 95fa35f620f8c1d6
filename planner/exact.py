"""Exact dispatch: every node is sent as soon as its own predecessors have
finished, and never waits for anything else. No scheduler process, no
polling: the workers advance the graph themselves.

How it works, on Celery's own parts:

- :func:`submit` stores one small *spec* per node in the result backend,
  under the run's key (the node's signature with its task id and two message
  headers, its successors with their in-degrees, and where its input comes
  from), then sends the roots.
- When a node's task succeeds, the worker that ran it gets Celery's
  ``task_success`` signal (after the result is stored). The handler reads the
  node's spec and, for each successor, records the arrival in a per-successor
  set (``SADD``: a redelivered task adds nothing twice); a successor whose set
  is full (or that has this one predecessor) is claimed with ``SET NX`` and
  sent, its input fetched from the result backend (the one predecessor's
  result, or the list in ``graph.predecessors`` order), then marked sent.
  The claim's owner is derived from the run, the finished node and the
  successor: if the worker dies between claiming and sending, the node's
  redelivered message owns the claim and sends what is not marked. A hop
  reads and writes O(degree) keys, and every message carries one node's signature and
  input, whatever the graph's size.
- A failed node has no ``task_success``: its descendants are never sent, and
  everything else runs on.
- Linear segments (v's only successor is w, w's only predecessor is v) of
  plain signatures travel in one ``planner.exact.segment`` message: the
  worker traces each node in turn as if its own message had come (its task
  id, signals, stored result), with no broker round trip between them, then
  advances past the last one. A Celery message costs a few milliseconds;
  this is what makes a 2000-step chain many times faster than a native
  chain. A node that fails or retries ends the segment; a redelivered
  segment skips the nodes already stored as SUCCESS.
- A map node (``map=True``, :mod:`planner.mapping`) is sent as one
  ``planner.exact.map`` message: it reads the predecessor's list from the
  result backend and publishes one message per item (the node's signature
  with the item as its input, task id :func:`~planner.mapping.item_task_id`,
  a header ``[index, count, node task id, follow run]``). Item completions are counted
  like a fan-in (``SADD`` of the index); the item that completes the count
  claims the collection (``SET NX``), stores the list of item results in
  order under the node's own task id and advances the run past it. An empty
  list stores ``[]`` at once. A failed item (``task_failure``) fails the
  node, naming the item; its descendants are never sent.

Backends: Redis (``app.backend.client``) and the embedded
``cache+memory://`` store (a process-local store with a lock stands in for
Redis there). Run keys expire after a day.

>>> check_support(app)                               # doctest: +SKIP
>>> submit(plan, signatures, app, task_ids)          # doctest: +SKIP
>>> app.AsyncResult(task_ids["load"]).get(timeout=10)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Mapping
from uuid import UUID, uuid5

import networkx as nx
from celery import shared_task, states
from celery.canvas import Signature
from celery.signals import task_failure, task_success
from kombu.utils.json import dumps, loads

from .errors import PlannerError
from .journal import FOLLOW_HEADER, HEAD_HEADER
from .mapping import check_items, item_failure, item_task_id, write_record
from .store import DAY, kept_for, stored_values

logger = logging.getLogger(__name__)

RUN_HEADER = "planner_exact_run"  # message header: the run's id
NODE_HEADER = "planner_exact_node"  # message header: the node's index in the run
SUCC_HEADER = "planner_exact_succ"  # message header: the node's successors, when it has few
SUCC_IN_HEADER = 8  # up to this many successors travel in the header (saves a read per hop)
KEY_PREFIX = "planner-exact"
ITEM_HEADER = "planner_exact_item"  # header of a map item: [index, count, the map node's task id, follow run]
REQUIRED_TASKS = ("planner.exact.segment", "planner.exact.hop", "planner.exact.map")  # proof the workers loaded this module
_OWNERS = UUID("5d1c9a52-3f7e-4c1b-9f0a-6e2b8d4c7a10")  # namespace of claim owners (any fixed UUID)

# Input kinds in a spec.
NOTHING, ONE, LIST = "nothing", "one", "list"


class InputMissing(RuntimeError):
    """A predecessor's result was not in the result backend when its
    successor was sent (e.g. the task ignores its result)."""


# --- support ---------------------------------------------------------------------------------------------


def check_support(app) -> None:
    """Raise :class:`PlannerError` (one line) unless ``app``'s result backend
    can hold exact dispatch's run state: Redis, or the embedded in-memory
    store."""
    _store_for(app)


def _store_for(app):
    url = str(app.conf.result_backend or "disabled://")
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss", "sentinel", "sentinels"):
        return _RedisStore(app.backend.client, kept_for(app.backend))
    if scheme.startswith("cache") and "memory" in url:
        return _MEMORY
    from .preflight import masked

    raise PlannerError(f"exact dispatch needs a Redis or in-memory (embedded) result backend; got {masked(url)} "
                       "(use --strategy canvas, or --backend redis://...)")


# --- the run state -----------------------------------------------------------------------------------------


def _key(run: str, kind: str, index: int) -> str:
    return f"{KEY_PREFIX}:{run}:{kind}:{index}"


class _RedisStore:
    """Run state in Redis: ``spec:i`` (JSON), ``arrived:i`` (set of
    predecessor indices), ``claimed:i`` (set once, by the sender), ``sent:i``
    (set once its message is out)."""

    def __init__(self, client, expires: int):
        self.client, self.expires = client, expires  # seconds the run's keys are kept

    def put_specs(self, run: str, specs: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for index, spec in enumerate(specs):
            pipe.set(_key(run, "spec", index), spec, ex=self.expires)
            if len(pipe) >= 1000:
                pipe.execute()
        pipe.execute()

    def spec(self, run: str, index: int) -> dict | None:
        raw = self.client.get(_key(run, "spec", index))
        return None if raw is None else loads(raw)

    def arrive(self, run: str, targets: list[int], source: int) -> list[int]:
        """Record ``source`` as arrived at each target; return how many
        predecessors each target has seen."""
        pipe = self.client.pipeline(transaction=False)
        for target in targets:
            key = _key(run, "arrived", target)
            pipe.sadd(key, source)
            pipe.scard(key)
            pipe.expire(key, self.expires)
        replies = pipe.execute()
        return [int(count) for count in replies[1::3]]

    def claim(self, run: str, targets: list[int], owners: list[str]) -> list[tuple[bool, bool, dict | None, bool]]:
        """Claim each target for the owner ``owners[i]`` (the first claim
        wins; the same owner again, a redelivered message, still owns it) and
        read its spec, in one round trip: ``(owned, new, spec, sent)``,
        ``new`` when this call made the claim, ``sent`` when its message is
        already out. Nothing is owned in a cancelled run."""
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(_key(run, "cancelled", 0))
        for target, owner in zip(targets, owners, strict=True):
            key = _key(run, "claimed", target)
            pipe.set(key, owner, nx=True, ex=self.expires)
            pipe.get(key)
            pipe.get(_key(run, "spec", target))
            pipe.exists(_key(run, "sent", target))
        cancelled, *replies = pipe.execute()
        if cancelled:
            return [(False, False, None, False) for _ in targets]
        return [(holder is not None and holder.decode() == owner, bool(new), None if raw is None else loads(raw),
                 bool(sent))
                for owner, new, holder, raw, sent in zip(owners, replies[::4], replies[1::4], replies[2::4],
                                                         replies[3::4], strict=True)]

    def mark_sent(self, run: str, targets: list[int]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for target in targets:
            pipe.set(_key(run, "sent", target), 1, ex=self.expires)
        pipe.execute()

    def cancel(self, run: str) -> None:
        self.client.set(_key(run, "cancelled", 0), 1, ex=self.expires)

    def arrive_item(self, run: str, index: int, item: int) -> int:
        """Record item ``item`` of map node ``index`` as done; return how
        many of its items are done."""
        key = _key(run, "items", index)
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(key, item)
        pipe.scard(key)
        pipe.expire(key, self.expires)
        return int(pipe.execute()[1])

    def claim_once(self, run: str, kind: str, index: int, owner: str) -> bool:
        """Claim ``kind:index`` for ``owner`` (the first claim wins; the same
        owner again still owns it); nothing is owned in a cancelled run."""
        key = _key(run, kind, index)
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(_key(run, "cancelled", 0))
        pipe.set(key, owner, nx=True, ex=self.expires)
        pipe.get(key)
        cancelled, _, holder = pipe.execute()
        return not cancelled and holder is not None and holder.decode() == owner


class _MemoryStore:
    """The same state in this process, for the embedded worker (threads pool,
    ``cache+memory://`` backend): one lock, plain dicts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: dict[str, dict] = {}

    def _run(self, run: str) -> dict:
        return self.runs.setdefault(run, {"created": time.monotonic(), "specs": [], "arrived": {}, "claimed": {},
                                          "sent": set()})

    def put_specs(self, run: str, specs: list[str]) -> None:
        with self.lock:
            now = time.monotonic()
            for old in [r for r, state in self.runs.items() if now - state["created"] > DAY]:
                del self.runs[old]
            self._run(run)["specs"] = [loads(spec) for spec in specs]

    def spec(self, run: str, index: int) -> dict | None:
        with self.lock:
            state = self.runs.get(run)
            return None if state is None else state["specs"][index]

    def arrive(self, run: str, targets: list[int], source: int) -> list[int]:
        with self.lock:
            arrived = self._run(run)["arrived"]
            counts = []
            for target in targets:
                seen = arrived.setdefault(target, set())
                seen.add(source)
                counts.append(len(seen))
            return counts

    def claim(self, run: str, targets: list[int], owners: list[str]) -> list[tuple[bool, bool, dict | None, bool]]:
        with self.lock:
            state = self._run(run)
            if state.get("cancelled"):
                return [(False, False, None, False) for _ in targets]
            out = []
            for target, owner in zip(targets, owners, strict=True):
                new = target not in state["claimed"]
                holder = state["claimed"].setdefault(target, owner)
                out.append((holder == owner, new, state["specs"][target] if state["specs"] else None,
                            target in state["sent"]))
            return out

    def mark_sent(self, run: str, targets: list[int]) -> None:
        with self.lock:
            self._run(run)["sent"].update(targets)

    def cancel(self, run: str) -> None:
        with self.lock:
            self._run(run)["cancelled"] = True

    def arrive_item(self, run: str, index: int, item: int) -> int:
        with self.lock:
            done = self._run(run).setdefault("items", {}).setdefault(index, set())
            done.add(item)
            return len(done)

    def claim_once(self, run: str, kind: str, index: int, owner: str) -> bool:
        with self.lock:
            state = self._run(run)
            holder = state.setdefault(kind, {}).setdefault(index, owner)
            return not state.get("cancelled") and holder == owner


_MEMORY = _MemoryStore()


# --- submit ------------------------------------------------------------------------------------------------

# Options that make a node's message special (routing, timing, limits): such a node always gets
# its own message, never runs inside a segment.
_PLAIN_OPTIONS = {"task_id", "headers"}


def submit(plan, signatures: Mapping[str, Signature], app, task_ids: Mapping[str, str],
           done: Mapping[str, object] | None = None) -> str:
    """Store the run's specs and send the roots; returns the run's id at
    once. Node ``name`` runs with task id ``task_ids[name]``. Nodes in
    ``done`` (name → result; every predecessor of one is in it too) are not
    run: their results feed their successors (``run --resume``, a canvas
    continued after a lost worker); their results must be stored under
    their task ids for successors that gather several inputs."""
    from celery import uuid

    store = _store_for(app)
    graph = plan.graph
    names = list(graph)
    index = {name: i for i, name in enumerate(names)}
    done = done or {}
    run = uuid()
    specs = [_spec(graph, name, index, signatures[name], task_ids, run) for name in names]
    # A map node is never part of a segment: its message fans out instead of running the task.
    _link_segments(graph, names, index, specs, [_plain(app, signatures[name]) and not graph.nodes[name].get("map")
                                                for name in names])
    store.put_specs(run, [dumps(spec) for spec in specs])
    roots, inputs = [], {}
    for i, name in enumerate(names):
        if name in done:
            continue
        preds = [str(p) for p in graph.predecessors(name)]
        finished = [p for p in preds if p in done]
        if len(finished) == len(preds):
            roots.append(i)
            inputs[i] = {NOTHING: (), ONE: tuple(done[p] for p in preds[:1]),
                         LIST: ([done[p] for p in preds],)}[specs[i]["takes"]] if not graph.nodes[name].get("map") else ()
        else:
            for pred in finished:  # counted as arrived: the node waits only for the rest
                store.arrive(run, [i], index[pred])
    owners = [uuid() for _ in roots]
    # Claimed like any other send, so a segment redelivered later finds its head owned.
    claims = store.claim(run, roots, owners)
    with app.producer_or_acquire() as producer:
        for i, owner, (won, _, _, _) in zip(roots, owners, claims, strict=True):
            if won:
                _publish(app, run, specs[i], inputs[i], owner, producer)
    return run


def cancel(app, run: str) -> None:
    """Stop ``run``: from now on no successor is sent and a segment stops
    before its next node (what already runs finishes)."""
    _store_for(app).cancel(run)


def _spec(graph, name: str, index: Mapping[str, int], signature: Signature, task_ids, run: str) -> dict:
    sig = signature.clone()
    headers = dict(sig.options.get("headers") or {})
    succ = [[index[str(s)], graph.in_degree(s)] for s in graph.successors(name)]
    headers.update({RUN_HEADER: run, NODE_HEADER: index[name]})
    if len(succ) <= SUCC_IN_HEADER:
        headers[SUCC_HEADER] = succ
    sig.set(task_id=task_ids[name], headers=headers)
    preds = [str(p) for p in graph.predecessors(name)]
    if sig.immutable or not preds:
        takes = NOTHING
    else:
        takes = ONE if len(preds) == 1 else LIST
    return {
        "name": name,
        "index": index[name],
        "task_id": task_ids[name],
        "sig": dict(sig),
        "succ": succ,
        "takes": takes,
        "preds": [[index[p], task_ids[p]] for p in preds] if takes == LIST else [],
        "next": None,  # the successor that runs right after it in the same segment message
        "segment": 1,  # nodes in the segment starting here
        # A map node: the task id of the predecessor whose list it maps over.
        "map": task_ids[preds[0]] if graph.nodes[name].get("map") else None,
    }


def _plain(app, sig: Signature) -> bool:
    """Whether the node may run inside a segment message: nothing about its
    own message matters (no options of its own, no time limits, routed like
    the segment message)."""
    if not set(sig.options) <= _PLAIN_OPTIONS:
        return False
    task = app.tasks.get(sig.task)
    if task is not None and (getattr(task, "queue", None) or task.time_limit or task.soft_time_limit):
        return False
    try:
        route = app.amqp.router.route({}, sig.task)
        default = app.amqp.router.route({}, "planner.exact.segment")
    except Exception:  # a router that cannot tell: keep the node's own message
        return False
    return getattr(route.get("queue"), "name", None) == getattr(default.get("queue"), "name", None)


def _link_segments(graph, names: list[str], index: Mapping[str, int], specs: list[dict], plain: list[bool]) -> None:
    """Mark linear links (``v`` → ``w``: v's only successor, w's only
    predecessor) between plain nodes: a segment of linked nodes runs in one
    message, one node after the other, without a broker round trip per
    node (each node still has its own task id and stored result)."""
    for v, name in enumerate(names):
        if graph.out_degree(name) != 1:
            continue
        w = index[str(next(iter(graph.successors(name))))]
        if graph.in_degree(names[w]) == 1 and plain[v] and plain[w]:
            specs[v]["next"] = w
    for spec in reversed([specs[index[str(n)]] for n in nx.topological_sort(graph)]):
        if spec["next"] is not None:
            spec["segment"] = 1 + specs[spec["next"]]["segment"]


def _publish(app, run: str, spec: dict, args: tuple, owner: str, producer) -> None:
    """Send ``spec``'s node: its own message, or a segment message (task id
    ``owner``, the id its claim was made with) when a segment starts there."""
    if spec.get("map"):  # the items are read from the backend, not carried in the message
        app.send_task("planner.exact.map", (run, spec["index"]), task_id=owner, producer=producer)
    elif spec["segment"] > 1:
        # A follower's header (planner.journal) goes on the segment's message too, naming its first node.
        follow = {key: value for key, value in (spec["sig"].get("options", {}).get("headers") or {}).items()
                  if key == FOLLOW_HEADER}
        if follow:
            follow[HEAD_HEADER] = spec["task_id"]
        app.send_task("planner.exact.segment", (run, spec["index"], list(args)), task_id=owner, producer=producer,
                      headers=follow or None)
    else:
        Signature.from_dict(spec["sig"], app=app).apply_async(args=args, producer=producer)


def resend(app, run: str, index: int, results: list) -> bool:
    """Publish node ``index`` of ``run`` again, on its own (its worker died
    holding it), given its predecessors' ``results`` in graph order: the
    same task id and headers, so when it succeeds its worker advances the run
    as for any node."""
    spec = _store_for(app).spec(run, index)
    if spec is None:
        return False
    args = {NOTHING: (), ONE: tuple(results[:1]), LIST: (list(results),)}[spec["takes"]]
    with app.producer_or_acquire() as producer:
        _publish(app, run, {**spec, "segment": 1}, args, None, producer)
    return True


# --- one hop -------------------------------------------------------------------------------------------------


def advance(app, run: str, index: int, result, succ: list | None = None) -> list[str]:
    """Node ``index`` of ``run`` finished with ``result``: send every
    successor that is now ready and not yet sent. Returns their names.
    Safe to call twice for the same node (redelivery). ``succ``, the node's
    ``[successor, in-degree]`` pairs, spares reading its spec."""
    store = _store_for(app)
    if succ is None:
        spec = store.spec(run, index)
        if spec is None:
            logger.warning("planner exact run %s: no spec for node %s (expired?)", run, index)
            return []
        succ = spec["succ"]
    gathered = [target for target, degree in succ if degree > 1]
    counts = dict(zip(gathered, store.arrive(run, gathered, index), strict=True)) if gathered else {}
    ready = [target for target, degree in succ if degree == 1 or counts[target] >= degree]
    if not ready:
        return []
    # The owner of a claim is this node's (not this attempt's): if the worker dies between
    # claiming and sending, the redelivered node still owns the claim and sends what is not
    # marked sent. Another predecessor, or another run, never has the same owner.
    owners = [str(uuid5(_OWNERS, f"{run}/{index}/{target}")) for target in ready]
    handled: list[dict] = []  # sent, or failed where the runner sees it
    published: list[str] = []
    with app.producer_or_acquire() as producer:
        for owner, (won, _, target_spec, already) in zip(owners, store.claim(run, ready, owners), strict=True):
            if won and target_spec is not None and not already:
                if _send(app, run, target_spec, index, result, owner, producer):
                    published.append(target_spec["name"])
                handled.append(target_spec)
    if handled:
        store.mark_sent(run, [spec["index"] for spec in handled])
    return published


class SendFailed(RuntimeError):
    """A ready node's message could not be published (broker gone, message
    refused): the node is failed rather than left claimed and never sent."""


def _send(app, run: str, spec: dict, source: int, result, owner: str, producer) -> bool:
    """Publish ``spec``'s node; when it cannot be, fail it where the runner
    looks for it (its descendants stay unsent) and return False."""
    try:
        # A map node's list is read from the backend by its own message, not carried in it.
        args = () if spec.get("map") else _inputs(app, spec, source, result)
    except InputMissing as error:
        app.backend.mark_as_failure(spec["task_id"], error)
        return False
    try:
        _publish(app, run, spec, args, owner, producer)
    except Exception as error:  # its predecessor's message is acknowledged: nothing would ever send it
        logger.warning("planner exact run %s: could not send node %r: %s", run, spec["name"], error)
        app.backend.mark_as_failure(spec["task_id"], SendFailed(
            f"could not send node {spec['name']!r}: {type(error).__name__}: {error}"))
        return False
    return True


def _inputs(app, spec: dict, source: int, result) -> tuple:
    if spec["takes"] == NOTHING:
        return ()
    if spec["takes"] == ONE:
        return (result,)
    others = [(i, task_id) for i, task_id in spec["preds"] if i != source]
    fetched = dict(zip([i for i, _ in others], _results(app, [task_id for _, task_id in others]), strict=True))
    fetched[source] = result
    return ([fetched[i] for i, _ in spec["preds"]],)


def _results(app, task_ids: list[str]) -> list:
    """The stored results of finished tasks, in order, in one read."""
    if not task_ids:
        return []
    backend = app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in task_ids]
    raw = stored_values(backend, keys)
    results = []
    for task_id, value in zip(task_ids, raw, strict=True):
        meta = backend.decode_result(value) if value is not None else {}
        if meta.get("status") != states.SUCCESS:
            raise InputMissing(f"input task {task_id} is {meta.get('status', 'not in the result backend')}, "
                               "not SUCCESS (does its task ignore results?)")
        results.append(meta.get("result"))
    return results


@task_success.connect(weak=False)
def _on_success(sender=None, result=None, **_):
    """Advance the run of an exact-dispatched node that just succeeded (in
    the worker that ran it, after its result was stored)."""
    request = getattr(sender, "request", None)
    run = getattr(request, RUN_HEADER, None) if request is not None else None
    if not run or getattr(_inline, "task_id", None) == request.id:
        return  # not ours, or a node a segment runs: the segment goes on itself
    item = getattr(request, ITEM_HEADER, None)
    if item:
        try:
            item_done(sender.app, run, int(getattr(request, NODE_HEADER)), *item)
        except Exception:
            logger.exception("planner exact run %s: could not count item %s of map node %s", run, item[0],
                             getattr(request, NODE_HEADER, "?"))
        return
    try:
        advance(sender.app, run, int(getattr(request, NODE_HEADER)), result, getattr(request, SUCC_HEADER, None))
    except Exception:  # the signal must not fail the task that already succeeded
        logger.exception("planner exact run %s: could not send the successors of node %s",
                         run, getattr(request, NODE_HEADER, "?"))


@shared_task(name="planner.exact.hop", bind=True)
def hop(self, run: str, index: int) -> list[str]:
    """Advance ``run`` past its finished node ``index`` (reading the node's
    result from the backend); returns the names of the successors it sent.

    Workers do this inline, from ``task_success``; the task exists so that
    ``planner run`` can check the workers loaded this module, and to resume
    a run by hand."""
    spec = _store_for(self.app).spec(run, index)
    if spec is None:
        return []
    meta = self.app.backend.get_task_meta(spec["task_id"])
    if meta.get("status") != states.SUCCESS:
        return []
    return advance(self.app, run, index, meta.get("result"))


# --- segments ------------------------------------------------------------------------------------------------

_inline = threading.local()  # the task id of the node a segment is running in this thread
_tracers: dict = {}


@shared_task(name="planner.exact.segment", bind=True, ignore_result=True)
def segment(self, run: str, index: int, args: list) -> None:
    """Run a linear segment of ``run`` that starts at node ``index`` (with
    input ``args``): each node traced in this worker as if its own message
    had arrived (its task id, signals, stored result), the next one as soon
    as it succeeded; then advance past the last one.

    A node that fails or is retried ends the segment (a retried node carries
    the run's headers, so when it succeeds its worker advances the run as for
    any node). Each node is claimed for this message first, so a redelivered
    segment resumes: nodes already stored as SUCCESS are not run again."""
    store = _store_for(self.app)
    owner = self.request.id
    inputs, first, result = tuple(args), True, None
    while True:
        (owned, new, spec, _), = store.claim(run, [index], [owner])
        if not owned or spec is None:
            return  # another message runs it
        if not first:
            inputs = (result,) if spec["takes"] == ONE else ()
        first = False
        # Claimed before by this message (its head, or a redelivered copy): it may have run already.
        done, result = (False, None) if new else _stored_success(self.app, spec["task_id"])
        if not done:
            done, result = _run_inline(self, spec, inputs)
            if not done:
                return
        if spec["next"] is None:
            advance(self.app, run, index, result, spec["succ"])
            return
        index = spec["next"]


def _stored_success(app, task_id: str) -> tuple[bool, object]:
    meta = app.backend.get_task_meta(task_id)
    return meta.get("status") == states.SUCCESS, meta.get("result")


def _run_inline(segment_task, spec: dict, args: tuple) -> tuple[bool, object]:
    """Trace one node in this worker, the way the worker traces a message:
    prerun/success/postrun signals, result stored under its task id."""
    from celery.app.trace import build_tracer

    app = segment_task.app
    sig = Signature.from_dict(spec["sig"], app=app)
    task = app.tasks[sig.task]
    args, kwargs, options = sig._merge(args, {}, {})
    parent = segment_task.request
    request = {
        **(options.get("headers") or {}),
        "id": spec["task_id"],
        "task": task.name,
        "root_id": parent.root_id or parent.id,
        "parent_id": parent.id,
        "hostname": parent.hostname,
        "delivery_info": parent.delivery_info or {},
        "reply_to": parent.reply_to,
        "args": args,
        "kwargs": kwargs,
    }
    tracer = _tracers.get(task.name)
    if tracer is None:
        tracer = _tracers[task.name] = build_tracer(task.name, task, app=app, hostname=parent.hostname)
    _inline.task_id = spec["task_id"]
    try:
        retval, info, _, _ = tracer(spec["task_id"], args, kwargs, request)
    finally:
        _inline.task_id = None
    return info is None, retval


# --- map nodes -----------------------------------------------------------------------------------------------


@shared_task(name="planner.exact.map", bind=True, ignore_result=True)
def map_step(self, run: str, index: int) -> None:
    """Fan out map node ``index`` of ``run``: read its predecessor's list
    from the result backend and send one message per item (task id
    :func:`~planner.mapping.item_task_id`); an empty list completes the node
    at once with ``[]``. A redelivered message sends the items again under
    the same task ids (their completions are counted once)."""
    app = self.app
    store = _store_for(app)
    spec = store.spec(run, index)
    if spec is None or not store.claim_once(run, "mapped", index, self.request.id):
        return  # expired, cancelled, or another message maps it
    if _stored_success(app, spec["task_id"])[0]:
        return  # already collected
    follow = _followed_by(spec)
    _record_map_start(self, spec["task_id"], follow)
    try:
        items = check_items(spec["name"], _results(app, [spec["map"]])[0])
    except (InputMissing, TypeError) as error:
        _fail_map(app, spec["task_id"], error, follow, self.request.hostname)
        return
    write_record(app.backend, spec["task_id"], len(items))
    if not items:
        _complete_map(app, run, spec, [])
        return
    from .tasks import RUN_HEADER as FOLLOWED

    sig = Signature.from_dict(spec["sig"], app=app)
    headers = {key: value for key, value in (sig.options.get("headers") or {}).items()
               if key not in (SUCC_HEADER, FOLLOWED)}  # items are not nodes: the runner follows the map node
    count = len(items)
    with app.producer_or_acquire() as producer:
        for position, item in enumerate(items):
            sig.apply_async(args=(item,), task_id=item_task_id(spec["task_id"], position), producer=producer,
                            headers={**headers, ITEM_HEADER: [position, count, spec["task_id"], follow]})


def _followed_by(spec: dict) -> str | None:
    """The id of the ``planner run`` that follows the node (its journal's), if any."""
    from .tasks import RUN_HEADER as FOLLOWED  # marks a node the runner follows (start records, journal)

    return ((spec["sig"].get("options") or {}).get("headers") or {}).get(FOLLOWED)


def _journal(app, follow: str | None, event: list) -> None:
    """Tell the run's follower (:mod:`planner.journal`) what happened to a
    map node, which has no message of its own whose signals would."""
    if not follow:
        return
    from .journal import journal_for

    try:
        journal = journal_for(app)
        if journal is not None:
            journal.append(follow, event)
    except Exception:  # the follower's periodic scan finds the node anyway
        logger.debug("planner exact: could not journal %s", event, exc_info=True)


def _record_map_start(task, node_task_id: str, follow: str | None) -> None:
    """A map node has no message of its own: its start is when it fans out."""
    from .journal import STARTED
    from .tasks import record_start

    record_start(task.backend, node_task_id, task.request.hostname, 1)
    _journal(task.app, follow, [STARTED, node_task_id, task.request.hostname, 1, time.time()])


def _fail_map(app, node_task_id: str, error: Exception, follow: str | None, worker: str | None = None) -> None:
    from .journal import DONE

    app.backend.mark_as_failure(node_task_id, error)
    _journal(app, follow, [DONE, node_task_id, states.FAILURE, worker])


def item_done(app, run: str, index: int, item: int, count: int, node_task_id: str, follow: str | None = None) -> None:
    """Item ``item`` of map node ``index`` succeeded: count it; the item
    that completes the count collects the results and advances the run."""
    store = _store_for(app)
    if store.arrive_item(run, index, item) < count:
        return
    # Owned by this item, so a redelivered copy of it may collect again after a crash.
    if not store.claim_once(run, "collected", index, str(uuid5(_OWNERS, f"{run}/{index}/item/{item}"))):
        return
    spec = store.spec(run, index)
    if spec is None:
        return
    try:
        results = _results(app, [item_task_id(node_task_id, k) for k in range(count)])
    except InputMissing as error:
        _fail_map(app, node_task_id, error, follow)
        return
    _complete_map(app, run, spec, results)


def _complete_map(app, run: str, spec: dict, results: list) -> None:
    from .journal import DONE

    app.backend.mark_as_done(spec["task_id"], results)
    _journal(app, _followed_by(spec), [DONE, spec["task_id"], states.SUCCESS, None])
    advance(app, run, spec["index"], results, spec["succ"])


@task_failure.connect(weak=False)
def _on_failure(sender=None, task_id=None, exception=None, **_):
    """An item of an exact-dispatched map node failed: fail the node, naming
    the item (its descendants are never sent)."""
    request = getattr(sender, "request", None)
    item = getattr(request, ITEM_HEADER, None) if request is not None else None
    if not item or not getattr(request, RUN_HEADER, None):
        return
    position, count, node_task_id, follow = (*item, None)[:4]
    try:
        error = item_failure(position, count, task_id, f"{type(exception).__name__}: {exception}")
        _fail_map(sender.app, node_task_id, error, follow, request.hostname)
    except Exception:  # the signal must not break the worker
        logger.exception("planner exact: could not fail map node %s for its item %s", node_task_id, position)
