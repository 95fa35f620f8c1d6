"""`planner lint` speed and memory on generated code bases, end to end
through the CLI (a fresh process per run, JSON output written as a user
would get it).

The trees are generated Django/Celery-style projects: apps with models,
views, serializers, admin, migrations, tests and Celery task modules of
about 300 lines each. Task modules define tasks (plain, ``bind=True``,
``shared_task``), build chains, groups and chords, send tasks with
``.delay()`` / ``.apply_async()``, attach errbacks and import tasks from
sibling apps; a share of modules uses Python 3.12 syntax (``type`` aliases,
``def f[T]``, f-strings with nested quotes) that the running interpreter
cannot parse. Two trees: ``mixed`` (a quarter of the modules are task
modules, as in a web project) and ``celery`` (every module is one); the
``mixed`` one twice as large too (speed and memory must not depend on the
tree's size), and with each output format (``--format json`` elsewhere).

Target on a 2-core machine: >= 300 files/s and <= 300 MB peak on 3,000
files. Peak MB is the largest memory of the ``planner lint`` process and
its worker processes together (their proportional set sizes, sampled from
/proc every 20 ms: pages the forked workers share with the parent count
once), and never less than the largest process's peak resident size;
CPU s is their user + system time. On a busy machine files/s (wall clock) drops
with the CPU share the run gets; files per CPU second does not.

    python bench/bench_lint.py [--files 3000] [--lines 300] [--paths DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES_PER_SECOND = 300
PEAK_MB = 300

WORDS = ("order invoice customer report export upload_batch sync account payment refund shipment catalog product price "
         "stock warehouse email notice audit backup thumbnail image upload document search index feed digest "
         "ledger tenant subscription coupon review rating session token webhook batch").split()


# --- the generated code base -------------------------------------------------------------------------------

def _name(rng: random.Random, parts: int = 2) -> str:
    return "_".join(rng.sample(WORDS, parts))


def _pad(lines: list[str], rng: random.Random, target: int) -> None:
    """Ordinary helper functions until the module has ``target`` lines."""
    while len(lines) < target:
        name = _name(rng)
        arg = rng.choice(WORDS)
        lines += [
            "",
            "",
            f"def {name}({arg}, limit=100, *, strict=False):",
            f'    """Return the {arg} rows that need attention."""',
            f"    rows = [row for row in {arg} if row.get('state') != 'done'][:limit]",
            "    if strict and not rows:",
            f"        raise ValueError(f'no {arg} to process: {{len({arg})}} seen')",
            "    total = sum(row.get('amount', 0) for row in rows)",
            "    return {'rows': rows, 'total': total, 'count': len(rows)}",
        ]


def django_module(rng: random.Random, app: str, kind: str, lines: int) -> str:
    out = ['"""' + f"{kind.capitalize()} of the {app} app." + '"""', "from __future__ import annotations", "",
           "from django.db import models", "from django.utils import timezone", ""]
    if kind == "models":
        for _ in range(lines // 12):
            model = _name(rng).title().replace("_", "")
            out += ["", "", f"class {model}(models.Model):",
                    "    name = models.CharField(max_length=200)",
                    "    created = models.DateTimeField(default=timezone.now)",
                    "    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)",
                    "    state = models.CharField(max_length=20, choices=[('new', 'New'), ('done', 'Done')])",
                    "",
                    "    class Meta:",
                    "        ordering = ['-created']",
                    "",
                    "    def __str__(self):",
                    "        return f'{self.name} ({self.state})'"]
    elif kind == "views":
        out += ["from django.http import JsonResponse", f"from .tasks import {app}_refresh, {app}_export", ""]
        for _ in range(lines // 10):
            view = _name(rng)
            out += ["", "", f"def {view}(request, pk):",
                    "    if request.method != 'POST':",
                    "        return JsonResponse({'error': 'POST only'}, status=405)",
                    f"    result = {app}_refresh.delay(pk)",
                    f"    {app}_export.apply_async((pk, 'csv'), countdown=5)",
                    "    return JsonResponse({'task': result.id, 'group': request.user.groups.count()})"]
    else:
        out += ["import logging", "", "logger = logging.getLogger(__name__)"]
    _pad(out, rng, lines)
    return "\n".join(out) + "\n"


def modern_module(rng: random.Random, lines: int) -> str:
    """Python 3.12 syntax: PEP 695 and PEP 701."""
    out = ['"""Typed helpers (Python 3.12)."""', "", "type Row = dict[str, object]", "type Pair[T] = tuple[T, T]", ""]
    for _ in range(lines // 8):
        name = _name(rng)
        out += ["", f"def {name}[T](items: list[T], key: str = 'id') -> list[T]:",
                "    labels = [f\"{item[\"name\"]} #{item[\"id\"]}\" for item in items]",
                "    return sorted(items, key=lambda item: labels.index(f\"{item[\"name\"]} #{item[\"id\"]}\"))"]
    _pad(out, rng, lines)
    return "\n".join(out) + "\n"


def tasks_module(rng: random.Random, app: str, apps: list[str], lines: int) -> str:
    other = rng.choice(apps)
    out = ['"""Celery tasks of the ' + app + ' app."""', "from __future__ import annotations", "",
           "from celery import chain, chord, group, shared_task", "",
           f"from {other}.tasks import {other}_refresh", "from .celery import app", ""]
    out += ["", "", "@shared_task", f"def {app}_refresh(pk):", "    return pk",
            "", "", "@shared_task(bind=True, max_retries=3)", f"def {app}_export(self, pk, fmt='csv'):",
            "    return f'/exports/{pk}.{fmt}'",
            "", "", "@app.task", f"def {app}_total(values):", "    return sum(v or 0 for v in values)",
            "", "", "@shared_task", f"def {app}_failed(request, exc, traceback):",
            "    return str(exc)"]
    names = []
    while len(out) < lines - 40:
        name = f"{app}_{_name(rng, 1)}_{len(names)}"
        names.append(name)
        shape = rng.random()
        out += ["", "", "@shared_task" if shape < 0.5 else "@app.task(acks_late=True)",
                f"def {name}(pk, limit=100):",
                "    rows = list(range(limit))",
                "    return {'pk': pk, 'rows': len(rows)}"]
        if len(names) >= 3 and rng.random() < 0.5:
            first, second, third = rng.sample(names, 3)
            canvas = rng.choice([
                f"chain({first}.s(pk), {app}_total.si([1, 2]), {second}.si(pk, limit=5))",
                f"chord([{first}.s(pk), {second}.s(pk)], {app}_total.s())",
                f"group({first}.si(pk), {second}.si(pk)) | {app}_total.s()",
                f"({first}.s(pk) | {third}.si(pk) | {other}_refresh.si(pk))",
                f"chain({first}.s(pk), {second}.s(pk, 5))",  # a real bug: second gets 3 arguments
            ])
            out += ["", "", f"def start_{name}(pk):",
                    f"    workflow = {canvas}",
                    f"    return workflow.apply_async(link_error={app}_failed.s())"]
    _pad(out, rng, lines)
    return "\n".join(out) + "\n"


def generate(folder: Path, files: int, lines: int, celery_share: float, seed: int = 12) -> int:
    """Write ``files`` modules under ``folder``; returns the number of lines."""
    rng = random.Random(seed)
    per_app = 12
    apps = [f"app{number}" for number in range(max(1, files // per_app))]
    written = total = 0
    for app in apps:
        package = folder / "project" / app
        package.mkdir(parents=True)
        modules = {"__init__": "", "celery": "from celery import Celery\n\napp = Celery('project')\n"}
        kinds = ["models", "views", "serializers", "admin", "forms", "urls", "utils", "signals", "services"]
        for index in range(per_app - len(modules)):
            if written + len(modules) >= files:
                break
            roll = rng.random()
            if index == 0 or roll < celery_share:
                name = "tasks" if index == 0 else f"jobs_{index}"
                modules[name] = tasks_module(rng, app, apps, lines)
            elif roll < celery_share + 0.1:
                modules[f"typed_{index}"] = modern_module(rng, lines)
            else:
                kind = kinds[index % len(kinds)]
                modules[f"{kind}_{index}"] = django_module(rng, app, kind, lines)
        for name, text in modules.items():
            if written >= files:
                break
            (package / f"{name}.py").write_text(text)
            written += 1
            total += text.count("\n")
        if written >= files:
            break
    return total


# --- measuring ---------------------------------------------------------------------------------------------

def planner_command() -> list[str]:
    script = Path(sys.executable).parent / "planner"
    return [str(script)] if script.exists() else [sys.executable, "-m", "planner"]


def _tree_memory_kb(pid: int) -> int:
    """Memory of ``pid`` and its child processes (a process pool): the sum
    of their proportional set sizes (a page the forked workers share with
    their parent is counted once, split between them), or of their
    resident sizes where the kernel has no ``smaps_rollup``."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            try:
                with open(f"/proc/{current}/smaps_rollup") as rollup:
                    total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            except (FileNotFoundError, StopIteration):
                with open(f"/proc/{current}/status") as status:
                    total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{current}/task/{current}/children") as children:
                pids += [int(child) for child in children.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_lint(paths: list[str], output: str = "json") -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak MB of the process and its workers,
    findings) of one `planner lint` run, its output written to a file."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen([*planner_command(), "lint", *paths, "--format", output], stdout=out,
                                   stderr=subprocess.PIPE, cwd=ROOT)
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.wait(0.02):
                peak[0] = max(peak[0], _tree_memory_kb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join(timeout=5)
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode()
        process.stderr.close()
        out.seek(0)
        text = out.read().decode()
    if process.returncode not in (0, 1):
        raise SystemExit(f"planner lint failed ({process.returncode}): {stderr.strip()}")
    peak_mb = max(peak[0], usage.ru_maxrss) / 1024
    return elapsed, usage.ru_utime + usage.ru_stime, peak_mb, _count_findings(text, output)


def _count_findings(text: str, output: str) -> int:
    if output == "json":
        return len(json.loads(text)["findings"])
    if output == "sarif":
        return len(json.loads(text)["runs"][0]["results"])
    return sum(1 for line in text.splitlines() if line and not line.startswith((" ", "Found", "All checks"))
               and ": note: " not in line)


def count_python(paths: list[str]) -> tuple[int, int]:
    files = lines = 0
    for given in paths:
        for folder, subfolders, names in os.walk(given):
            subfolders[:] = [d for d in subfolders if not d.startswith(".")
                             and d not in ("__pycache__", "node_modules", "site-packages", "venv", "build", "dist")]
            for name in names:
                if name.endswith(".py"):
                    files += 1
                    with open(os.path.join(folder, name), "rb") as handle:
                        lines += handle.read().count(b"\n")
    return files, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--paths", nargs="*", default=[], help="real code bases to measure too")
    args = parser.parse_args()

    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="planner-bench-lint-"))
    load = os.getloadavg()[0]
    try:
        trees = (("mixed", 0.25, args.files, ("json", "text", "sarif")), ("celery", 1.0, args.files, ("json",)),
                 ("mixed", 0.25, 2 * args.files, ("json",)))
        for label, share, size, outputs in trees:
            folder = workdir / f"{label}{size}"
            folder.mkdir()
            generate(folder, size, args.lines, share)
            files, lines = count_python([str(folder)])
            for output in outputs:
                seconds, cpu, peak, found = run_lint([str(folder)], output)
                rows.append((f"generated {label} {output}", files, lines, seconds, cpu, peak, found))
            shutil.rmtree(folder)
        for path in args.paths:
            files, lines = count_python([path])
            seconds, cpu, peak, found = run_lint([path])
            rows.append((path, files, lines, seconds, cpu, peak, found))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"planner lint, end to end (cores: {os.cpu_count()}, load average: {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end)")
    print(f"{'tree':<28} {'files':>6} {'lines':>8} {'seconds':>8} {'files/s':>8} {'CPU s':>7} {'files/CPU s':>11} "
          f"{'peak MB':>8} {'findings':>9}")
    ok = True
    for label, files, lines, seconds, cpu, peak, found in rows:
        rate = files / seconds
        print(f"{label[-28:]:<28} {files:>6} {lines:>8} {seconds:>8.2f} {rate:>8.0f} {cpu:>7.2f} {files / cpu:>11.0f} "
              f"{peak:>8.0f} {found:>9}")
        if label.startswith("generated"):
            ok = ok and rate >= FILES_PER_SECOND and peak <= PEAK_MB
    print(f"target on the generated trees: >= {FILES_PER_SECOND} files/s, <= {PEAK_MB} MB peak: "
          f"{'met' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
