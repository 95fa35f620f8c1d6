"""Map nodes (``map=True``): what exact dispatch, the canvas helper and the
run report share.

A map node runs its task once per item of its one predecessor's list. Item
``k`` runs with the task id :func:`item_task_id` derives from the node's own
task id, so anyone who knows the node's task id finds every item's result;
the node's own task id ends up holding the list of item results, in item
order. When the items are known, the worker that fans them out stores a
small *map record* beside the node's result (``{"items": n}``), which tells
the report how many items there were.

>>> item_task_id("5f0c6a6e-0000-4000-8000-000000000000", 0) == item_task_id("5f0c6a6e-0000-4000-8000-000000000000", 0)
True
>>> map_nodes(nx.DiGraph([("a", "b")]))
[]
"""

from __future__ import annotations

import contextlib
import json
from uuid import UUID, uuid5

import networkx as nx

from .store import is_key_value, stored_values

RECORD_SUFFIX = ":planner-map"  # appended to the map node's result key
_ITEMS = UUID("0b6f1f0e-7f7c-4a51-9d55-3c7e1b2a9e41")  # namespace of item task ids (any fixed UUID)


class MapInputError(TypeError):
    """A map node's predecessor did not return a list."""


class MapItemFailed(RuntimeError):
    """One item of a map node failed: the node fails, naming the item."""


def map_nodes(graph: nx.DiGraph) -> list[str]:
    """The names of the structure graph's map nodes, in graph order."""
    return [str(node) for node, mapped in graph.nodes(data="map") if mapped]


def item_task_id(task_id: str, index: int) -> str:
    """The task id of item ``index`` of the map node whose task id is
    ``task_id`` (the same on every worker and in the report)."""
    return str(uuid5(_ITEMS, f"{task_id}/{index}"))


def check_items(node: str, items) -> list:
    """``items`` when it is a list, else :class:`MapInputError` naming the node."""
    if not isinstance(items, list):
        raise MapInputError(f"map node '{node}' needs a list from its predecessor, got {type(items).__name__}")
    return items


def item_failure(index: int, count: int, task_id: str, error: str) -> MapItemFailed:
    """The error a map node fails with when its item ``index`` failed."""
    return MapItemFailed(f"item {index} of {count} failed (task {task_id}): {error}")


def write_record(backend, task_id: str, count: int) -> None:
    """Store ``{"items": count}`` beside the map node's result (a key-value
    result backend; elsewhere the report does without the count)."""
    if not is_key_value(backend):
        return
    with contextlib.suppress(Exception):  # the count is for the report, never worth failing the map
        backend.set(backend.get_key_for_task(task_id, key=RECORD_SUFFIX), json.dumps({"items": count}))


def read_records(backend, task_ids: list[str]) -> list[int | None]:
    """The item counts recorded for map nodes ``task_ids`` (None: none)."""
    if not task_ids or not is_key_value(backend):
        return [None] * len(task_ids)
    keys = [backend.get_key_for_task(task_id, key=RECORD_SUFFIX) for task_id in task_ids]
    values = stored_values(backend, keys)
    counts: list[int | None] = []
    for raw in values:
        try:
            counts.append(int(json.loads(raw)["items"]) if raw is not None else None)
        except (ValueError, TypeError, KeyError):
            counts.append(None)
    return counts


def error_text(exc) -> str:
    """``"Type: message"`` of an exception."""
    return f"{type(exc).__name__}: {exc}"


def describe_maps(backend, nodes) -> None:
    """Fill in the report's map nodes (:class:`~planner.outcome.NodeRun`
    with ``mapped``): their item counts and, for one that failed because an
    item failed (a canvas's chord says only "dependency ... raised"), which
    item, with its error."""
    from .outcome import FAILURE

    mapped = [node for node in nodes.values() if node.mapped]
    for node, count in zip(mapped, read_records(backend, [node.task_id for node in mapped]), strict=True):
        if count is None and isinstance(node.result, list):
            count = len(node.result)
        node.items = count
        if node.state == FAILURE and count and not (node.error or "").startswith(MapItemFailed.__name__):
            found = _failed_item(backend, node.task_id, count)
            if found is not None:
                node.error = f"{MapItemFailed.__name__}: {found}"


def _failed_item(backend, task_id: str, count: int) -> str | None:
    """``item k of n failed (task ...): Type: message`` for the first failed
    item of a map node, read from the result backend."""
    if not is_key_value(backend):
        return None
    ids = [item_task_id(task_id, index) for index in range(count)]
    keys = [backend.get_key_for_task(item) for item in ids]
    values = stored_values(backend, keys)
    for index, raw in enumerate(values):
        meta = backend.decode(raw) if raw is not None else {}
        if meta.get("status") == "FAILURE":
            exc = meta.get("result")
            error = (f"{exc.get('exc_type')}: {' '.join(map(str, exc.get('exc_message') or ()))}"
                     if isinstance(exc, dict) else str(exc))
            return str(item_failure(index, count, ids[index], error))
    return None
