"""``make soak``: the differential harness (tests/differential.py) over many
random graphs per backend; prints the failures grouped by shape and exits 1
when there are any.

    python tests/soak.py [--graphs 300] [--backends embedded,redis,rabbitmq] [--no-source]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from differential import BACKENDS, backend, risky_graphs, servers, shape_of  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402


def soak(runner, count: int, source: bool, folder: Path) -> tuple[int, dict]:
    failures: dict[str, list[str]] = defaultdict(list)
    ran = [0]

    @settings(max_examples=count, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(shape=risky_graphs())
    def one(shape):
        try:
            problems = runner.check(shape, folder if source else None)
        except Exception as error:  # a harness or planner error is a failure of this graph, not the end
            problems = [f"error: {type(error).__name__}: {error}"]
        ran[0] += 1
        if problems:
            edges = sorted((str(u), str(v)) for u, v in shape.edges)
            immutable = sorted(str(n) for n in shape if shape.nodes[n].get("immutable"))
            failures[shape_of(shape)].append(f"{problems[0]} (+{len(problems) - 1} more) | edges={edges} "
                                             f"si={immutable} nodes={sorted(map(str, shape))}")
        if ran[0] % 25 == 0:
            print(f"  {runner.name}: {ran[0]} graphs, {sum(map(len, failures.values()))} failed", flush=True)

    one()
    return ran[0], failures


def main() -> int:
    # Stopped with SIGTERM, still stop the workers and servers it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--graphs", type=int, default=300)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--no-source", action="store_true", help="skip running the --format python source")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="planner-soak-"))
    total_failed = 0
    with servers() as (redis_base, amqp):
        for name in options.backends.split(","):
            if name == "rabbitmq" and amqp is None:
                print("rabbitmq: skipped, RabbitMQ does not answer on 127.0.0.1:5672")
                continue
            started = time.monotonic()
            with backend(name, redis_base, amqp) as runner:
                count, failures = soak(runner, options.graphs, not options.no_source, folder)
            failed = sum(map(len, failures.values()))
            total_failed += failed
            print(f"{name}: {count} graphs, {failed} failed, {time.monotonic() - started:.0f} s", flush=True)
            for shape, items in sorted(failures.items(), key=lambda kv: -len(kv[1])):
                print(f"  [{len(items)}] {shape}")
                for item in items[:3]:
                    print(f"      {item}")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
