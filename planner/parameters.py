"""Run parameters: a graph file's ``graph`` may be a function returning the
DiGraph; its parameters are the run's (``--param day=2026-11-27``), each
converted by its annotation: ``str``, ``int``, ``float``, ``bool``,
``list[str]`` (comma-separated), ``date``, ``datetime`` (ISO 8601). An
unannotated parameter takes the type of its default, else ``str``.

>>> from datetime import date
>>> def graph(day: date, copies: int = 2): ...
>>> [p.describe() for p in parameters_of(graph)]
['day: date (required)', 'copies: int = 2']
>>> bind(graph, {"day": "2026-11-27"})
{'day': datetime.date(2026, 11, 27), 'copies': 2}
>>> as_json({'day': date(2026, 11, 27), 'copies': 2})
{'day': '2026-11-27', 'copies': 2}
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping

from .errors import PlannerError

REQUIRED = inspect.Parameter.empty
TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool", list: "list[str]", date: "date",
              datetime: "datetime"}
EXAMPLES = {str: "TEXT", int: "3", float: "0.5", bool: "true", list: "a,b", date: "2026-11-27",
            datetime: "2026-11-27T06:00:00"}
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a graph function: its name, the type its value is
    converted to (``list`` stands for ``list[str]``) and its default."""

    name: str
    kind: type
    default: object = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """``copies: int = 2`` or ``day: date (required)``."""
        kind = TYPE_NAMES[self.kind]
        if self.required:
            return f"{self.name}: {kind} (required)"
        default = as_json({self.name: self.default})[self.name]
        if isinstance(default, list):
            default = ",".join(default)
        return f"{self.name}: {kind} = {default}"


class MissingParameter(PlannerError):
    """A required parameter of the graph function was given no value."""


def is_graph_function(value) -> bool:
    """A graph attribute that builds the graph when called."""
    return callable(value) and not isinstance(value, type)


def parameters_of(function, where: str = "graph") -> list[Parameter]:
    """The parameters of ``function``, in order (``*args``/``**kwargs`` left out)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        raise PlannerError(f"{where}: cannot read the function's parameters: {error}") from None
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # an annotation that does not evaluate: reported per parameter below
        hints = {}
    found = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(parameter.name, parameter.annotation)
        found.append(Parameter(parameter.name, _kind(where, parameter, annotation), parameter.default))
    return found


def _kind(where: str, parameter: inspect.Parameter, annotation) -> type:
    if annotation is inspect.Parameter.empty:
        default = parameter.default
        return type(default) if type(default) in TYPE_NAMES and default is not REQUIRED else str
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in options:
        rest = [option for option in options if option is not type(None)]  # Optional[X]: X
        if len(rest) == 1:
            annotation = rest[0]
    if annotation in TYPE_NAMES and annotation is not list:
        return annotation
    if typing.get_origin(annotation) is list and typing.get_args(annotation) in ((str,), ()):
        return list
    if annotation is list:
        return list
    shown = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    raise PlannerError(f"{where}: parameter '{parameter.name}' is annotated {shown}: planner converts "
                       "str, int, float, bool, list[str], date and datetime")


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["day=2026-11-27", "copies=3"]`` → ``{"day": "2026-11-27", "copies": "3"}``."""
    given: dict[str, str] = {}
    for item in items or ():
        name, equals, value = item.partition("=")
        name = name.strip()
        if not equals or not name:
            raise PlannerError(f"--param takes NAME=VALUE, got '{item}'")
        if name in given:
            raise PlannerError(f"--param {name} is given twice")
        given[name] = value
    return given


def bind(function, given: Mapping[str, object], where: str = "graph") -> dict[str, object]:
    """The values ``function`` is called with: ``given`` (strings from the
    command line, or the JSON values a run report recorded) converted,
    defaults filled in. One-line :class:`PlannerError` for an unknown,
    missing or badly typed parameter."""
    parameters = parameters_of(function, where)
    known = {parameter.name: parameter for parameter in parameters}
    for name in given:
        if name not in known:
            listed = ", ".join(known) if known else "none"
            raise PlannerError(f"{where}: unknown parameter '{name}' (its parameters: {listed})")
    values: dict[str, object] = {}
    for parameter in parameters:
        if parameter.name in given:
            values[parameter.name] = convert(parameter, given[parameter.name], where)
        elif parameter.required:
            raise MissingParameter(f"{where}: parameter '{parameter.name}' ({TYPE_NAMES[parameter.kind]}) is required: "
                               f"give --param {parameter.name}={EXAMPLES[parameter.kind]}")
        else:
            values[parameter.name] = parameter.default
    return values


def convert(parameter: Parameter, value, where: str = "graph"):
    """``value`` as ``parameter.kind``: from its command-line text, or from
    the JSON form :func:`as_json` gives it."""
    kind = parameter.kind
    try:
        if not isinstance(value, str):
            return _from_json(kind, value)
        if kind is bool:
            text = value.strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError
            return text in _TRUE
        if kind is list:
            return [part.strip() for part in value.split(",") if part.strip()]
        if kind in (date, datetime):
            return kind.fromisoformat(value.strip())
        return kind(value.strip()) if kind is not str else value
    except (TypeError, ValueError):
        raise PlannerError(f"{where}: parameter '{parameter.name}' must be {_expected(kind)}, "
                           f"got {value!r}") from None


def _from_json(kind: type, value):
    if kind is list and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (int, bool) and type(value) is kind:
        return value
    raise ValueError


def _expected(kind: type) -> str:
    return {int: "a whole number (int)", float: "a number (float)", bool: "true or false (bool)",
            list: "a comma-separated list (list[str])", date: "a date, YYYY-MM-DD (date)",
            datetime: "an ISO 8601 date and time, YYYY-MM-DDTHH:MM[:SS] (datetime)"}.get(kind, TYPE_NAMES[kind])


def assignments(values: Mapping[str, object]) -> str:
    """``day=2026-11-27 regions=eu,us``: the parameters as ``--param`` takes them.

    >>> assignments({"day": "2026-11-27", "regions": ["eu", "us"]})
    'day=2026-11-27 regions=eu,us'
    """
    return " ".join(f"{name}={','.join(value) if isinstance(value, list) else value}"
                    for name, value in as_json(values).items())


def as_json(values: Mapping[str, object]) -> dict[str, object]:
    """The parameters as a run report records them (dates in ISO 8601);
    :func:`bind` takes them back."""
    return {name: value.isoformat() if isinstance(value, (date, datetime)) else value
            for name, value in values.items()}
