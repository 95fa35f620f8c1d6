"""A plain Python process that runs planner's ``--format python`` source as
a team that pasted it would: no planner import (unless the source itself
imports ``planner.tasks.gather``), just Celery and the tasks module.

    python source_driver.py BROKER BACKEND    # then one source path per line on stdin

For each path it executes the file and sends its ``canvas``, then answers
one line: ``sent`` or the error. The harness checks what ran.
"""

import sys
import traceback

from workload.tasks import app


def main() -> None:
    broker, backend = sys.argv[1:3]
    app.conf.update(broker_url=broker, result_backend=backend)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        try:
            had_planner = "planner" in sys.modules
            namespace: dict = {"__name__": "planned_canvas"}
            with open(path) as handle:
                source = handle.read()
            exec(compile(source, path, "exec"), namespace)
            namespace["canvas"].apply_async()
            answer = "sent"
            if not had_planner and "planner" in sys.modules and "from planner" not in source:
                answer = "the source imported planner without saying so"
        except Exception as error:  # reported to the harness, which fails the graph
            answer = f"{type(error).__name__}: {error}".replace("\n", " ")
            traceback.print_exc(file=sys.stderr)
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
