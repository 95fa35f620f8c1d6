"""The ``planner`` command. Thin: parse, call the library, print.

Each command lives in its own module and registers itself on ``app``.
``--debug`` anywhere on the command line shows tracebacks; ``--version``
prints the versions.
"""

from __future__ import annotations

import sys

from .common import app, settings

# Imported for their side effect: each registers its command on ``app``, in
# the order `planner --help` lists them.
# isort: off
from . import plan_command  # noqa: F401
from . import render_command  # noqa: F401
from . import run_command  # noqa: F401
from . import status_command  # noqa: F401
from . import lint_command  # noqa: F401
# isort: on


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        args.remove("--debug")
        settings.debug = True
    app(args=args, prog_name="planner")


__all__ = ["app", "main"]
