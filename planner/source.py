"""Emission as Python source: code that builds the plan's canvas, for teams
that want it in their own code base. A plan that gathers no inputs and has
no map node needs no planner import at all (a map node is
``planner.tasks.map_items``, Celery's "dmap" pattern).

>>> print(to_python(plan, signatures))   # doctest: +SKIP
from celery import chain, chord, group
from tasks import add, multiply
<BLANKLINE>
canvas = chain(add.s(2, 3), multiply.s(10))
"""

from __future__ import annotations

from typing import Mapping

from celery.canvas import Signature

from .mapping import map_nodes
from .plan import Chain, Chord, Group, Plan, Step, Task, children, walk
from .shapes import Collect, celery_safe

INDENT = "    "
NEST_LIMIT = 12  # sub-canvases this deep get a variable of their own (the parser nests at most 200
# brackets, and indenting deeper is mostly spaces)


def to_python(plan: Plan, signatures: Mapping[str, Signature], variable: str = "canvas") -> str:
    """Python source that assigns the plan's canvas to ``variable``."""
    names = _import_names(signatures)
    gathered = sorted({p for s in walk(plan.root) if isinstance(s, Task) and s.gather for p in s.gather})
    root = celery_safe(plan.root)
    used = {type(s) for s in walk(root)}
    names_used = ["chain", "chord" if Chord in used else "", "group", "signature" if Collect in used else ""]
    lines = ["from celery import " + ", ".join(name for name in names_used if name)]
    mapped = set(map_nodes(plan.graph))
    if gathered:
        lines += ["from celery import uuid"]
    helpers = ["gather"] * bool(gathered) + ["map_items"] * bool(mapped)
    if helpers:
        lines += [f"from planner.tasks import {', '.join(helpers)}"]
    by_module: dict[str, list[str]] = {}
    for _task_name, (module, attribute, alias) in sorted(names.items()):
        by_module.setdefault(module, []).append(attribute if alias == attribute else f"{attribute} as {alias}")
    lines += [f"from {module} import {', '.join(sorted(set(items)))}" for module, items in sorted(by_module.items())]
    lines.append("")
    if gathered:
        lines.append("# Nodes whose results are fetched by id further down.")
        lines.append("ids = {" + ", ".join(f"{n!r}: uuid()" for n in gathered) + "}")
    writer = _Writer(plan, signatures, names, set(gathered), variable, mapped)
    assignments, expression = writer.expression(root)
    if assignments:
        lines.append("# Deeply nested parts, assigned first so Python's parser takes them.")
    lines += assignments
    lines.append(f"{variable} = {expression}")
    return "\n".join(lines) + "\n"


def _import_names(signatures: Mapping[str, Signature]) -> dict[str, tuple[str, str, str]]:
    """Task name → (module, attribute, local alias), aliases unique."""
    taken: dict[str, str] = {}
    out = {}
    for sig in signatures.values():
        if sig.task in out:
            continue
        task = sig.type
        module, attribute = type(task).__module__, type(task).__name__
        alias = attribute
        suffix = 2
        while taken.get(alias, sig.task) != sig.task:
            alias, suffix = f"{attribute}_{suffix}", suffix + 1
        taken[alias] = sig.task
        out[sig.task] = (module, attribute, alias)
    return out


class _Writer:
    def __init__(self, plan, signatures, names, tracked, variable, mapped=frozenset()):
        self.plan, self.signatures, self.names, self.tracked = plan, signatures, names, tracked
        self.variable, self.mapped = variable, mapped

    def expression(self, root: Step) -> tuple[list[str], str]:
        """Assignments of deep sub-canvases, then the canvas expression.
        Built without recursion (children before parents); a sub-canvas
        nested ``NEST_LIMIT`` levels deep is assigned to a variable of its
        own first, so the source stays within Python's parser limits however
        deep the plan nests."""
        depth_of = {id(root): 0}
        for step in walk(root):
            for sub in children(step):
                depth_of[id(sub)] = (depth_of[id(step)] + 1) % NEST_LIMIT
        text: dict[int, str] = {}
        assignments: list[str] = []
        for step in reversed(list(walk(root))):
            if isinstance(step, Collect):  # Celery's built-in: hands on the list it gets
                text[id(step)] = f'signature("{step.name}", kwargs={{"index": 0}})'
                continue
            if isinstance(step, Task):
                text[id(step)] = self.task(step)
                continue
            function = "chain" if isinstance(step, Chain) else "group" if isinstance(step, Group) else "chord"
            text[id(step)] = self.call(function, [text[id(s)] for s in children(step)], depth_of[id(step)])
            if depth_of[id(step)] == 0 and step is not root:
                name = f"{self.variable}_part_{len(assignments) + 1}"
                assignments.append(f"{name} = {text[id(step)]}")
                text[id(step)] = name
        return assignments, text[id(root)]

    @staticmethod
    def call(function: str, parts: list[str], depth: int) -> str:
        one_line = f"{function}({', '.join(parts)})"
        if len(one_line) + len(INDENT) * depth <= 88 and "\n" not in one_line:
            return one_line
        inner = INDENT * (depth + 1)
        return f"{function}(\n" + "".join(f"{inner}{p},\n" for p in parts) + f"{INDENT * depth})"

    def task(self, step: Task) -> str:
        sig = self.signatures[step.name]
        alias = self.names[sig.task][2]
        immutable = sig.immutable or step.gather == ()
        arguments = [repr(a) for a in sig.args]
        arguments += [f"{k}={v!r}" if k.isidentifier() else f"**{{{k!r}: {v!r}}}" for k, v in sig.kwargs.items()]
        text = f"{alias}.{'si' if immutable else 's'}({', '.join(arguments)})"
        if step.name in self.mapped:  # Celery's "dmap": one call of the node's signature per item
            text = f"map_items.s({text}, node={step.name!r})"
        if step.name in self.tracked:
            text += f".set(task_id=ids[{step.name!r}])"
        if step.gather:
            sources = ", ".join(f"ids[{p!r}]" for p in step.gather)
            text = f"chain(gather.si([{sources}], {len(step.gather) == 1}), {text})"
        return text


