"""`planner lint` through the real command (typer's CliRunner on
``planner.cli.app``, plus one subprocess): every rule's true positives and
clean cases, suppression, selection, exit codes, the three formats (SARIF
checked against a SARIF 2.1.0 subset schema) and that linted Celery code is
never imported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from planner.cli import app

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"
CODE = sorted((FIXTURES / "code").glob("*.py"))
GRAPHS = FIXTURES / "graphs"
EXPECT = re.compile(r"expect: ((?:PLN\d{3}\s*)+)")


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # paths print relative to the working directory


def lint(*args):
    return CliRunner().invoke(app, ["lint", *map(str, args)])


def findings(*args):
    result = lint(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    found = json.loads(result.stdout)["findings"]
    assert result.exit_code == (1 if found else 0)
    return found


def expected_in(path: Path) -> set[tuple[int, str]]:
    """``# expect: PLN001 PLN005`` comments in a fixture: (line, code) pairs."""
    expected = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            expected |= {(number, code) for code in match.group(1).split()}
    return expected


# --- rules over Celery code --------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", CODE, ids=[p.stem for p in CODE])
def test_code_fixture_reports_exactly_what_it_expects(fixture):
    """Each ``*_bad.py`` marks its true positives; each ``*_clean.py`` has
    none, so a false positive there fails too (``fp_*``: the false-positive
    classes of issue 12; ``bug_*``: the real bugs it found unreported)."""
    found = {(f["line"], f["code"]) for f in findings(fixture)}
    assert found == expected_in(fixture)
    if fixture.stem.endswith("_clean"):
        assert found == set()
    if fixture.stem.startswith("pln") and fixture.stem.endswith("_bad"):
        assert {code for _, code in found} >= {fixture.stem.split("_")[0].upper()}


def test_every_code_rule_has_true_positive_and_clean_fixtures():
    stems = {p.stem for p in CODE}
    for code in ("pln001", "pln002", "pln003", "pln004", "pln005", "pln006", "pln007", "pln008", "pln009"):
        assert {f"{code}_bad", f"{code}_clean"} <= stems
    for false_positive in ("comprehension_names", "shadowed_names", "ordered_side_effects"):
        assert f"fp_{false_positive}_clean" in stems
    for bug in ("unknown_keyword", "literal_kwargs", "tuple_payload"):
        assert f"bug_{bug}_bad" in stems


def test_seed_ordering_case_is_clean(tmp_path):
    source = tmp_path / "ordering.py"
    source.write_text(
        "from celery import Celery, chain\napp = Celery('t')\n\n@app.task\ndef add(x, y):\n    return x + y\n\n"
        "@app.task\ndef log_done(message):\n    return message\n\n"
        "chain(add.s(2, 3), log_done.si('completed'))\n"
    )
    assert findings(source) == []


def test_finding_fields_and_fix_hint():
    (finding,) = [f for f in findings(FIXTURES / "code" / "pln002_bad.py") if f["line"] == 32]
    assert finding == {
        "path": "tests/fixtures/lint/code/pln002_bad.py", "line": 32, "column": 20, "code": "PLN002",
        "message": "multiply(value, factor) cannot take the upstream result plus (10, 20): "
                   "it takes 2 positional argument(s) but would get 3",
        "fix": finding["fix"],
    }
    assert "multiply.si(10, 20)" in finding["fix"]


def test_tasks_resolve_across_linted_files(tmp_path):
    (tmp_path / "jobs.py").write_text(
        "from celery import shared_task\n\n@shared_task(bind=True)\ndef scale(self, value, factor):\n"
        "    return value * factor\n\n@shared_task\ndef add(x, y):\n    return x + y\n")
    (tmp_path / "flow.py").write_text(
        "from celery import chain\nfrom jobs import add, scale\n\nchain(add.s(1, 2), scale.s(3, 4))\n"
        "chain(add.s(1, 2), scale.s(3))\n")
    found = findings(tmp_path)
    assert [(Path(f["path"]).name, f["line"], f["code"]) for f in found] == [("flow.py", 4, "PLN002")]
    assert findings(tmp_path / "flow.py") == []  # the task is not among the linted files: not judged


def test_execution_options_passed_as_task_arguments(tmp_path):
    """``.delay(pk, eta=...)`` hands ``eta`` to the task (a real bug found in a
    public code base): the fix names the option and where it belongs."""
    (tmp_path / "jobs.py").write_text(
        "from celery import shared_task\n\n@shared_task\ndef send_email(announcement_id):\n    pass\n\n"
        "send_email.delay(1, eta=when)\nsend_email.s(1, countdown=5).delay()\n"
        "send_email.apply_async((1,), eta=when)\n")
    found = findings(tmp_path)
    assert [(f["line"], f["code"]) for f in found] == [(7, "PLN002"), (8, "PLN002")]
    assert ".apply_async((...), eta=...)" in found[0]["fix"]
    assert ".set(countdown=...)" in found[1]["fix"]


def test_columns_count_characters_not_bytes(tmp_path):
    source = tmp_path / "unicode.py"
    source.write_text(
        "from celery import Celery, chain\napp = Celery('t')\n\n@app.task\ndef add(x, y):\n    return x + y\n\n"
        "étiquette = 'é';  chain(add.s(1, 2))\n")
    (finding,) = findings(source)
    assert (finding["line"], finding["column"], finding["code"]) == (8, 19, "PLN006")


def test_linted_code_is_never_imported(tmp_path, monkeypatch):
    """import_bomb.py writes a marker and exits at import; lint still finds its
    PLN002, in process and through the installed command."""
    marker = tmp_path / "imported"
    monkeypatch.setenv("PLANNER_LINT_MARKER", str(marker))
    bomb = FIXTURES / "side_effects" / "import_bomb.py"
    assert [(f["line"], f["code"]) for f in findings(bomb)] == [(20, "PLN002")]
    planner = ROOT / ".venv" / "bin" / "planner"
    command = [str(planner)] if planner.exists() else [sys.executable, "-m", "planner"]
    done = subprocess.run([*command, "lint", str(bomb)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PLANNER_LINT_MARKER": str(marker)}, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "PLN002" in done.stdout
    assert not marker.exists()


def test_py_file_that_only_looks_like_a_graph_is_not_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    monkeypatch.setenv("PLANNER_LINT_MARKER", str(marker))
    source = tmp_path / "notgraph.py"
    source.write_text("import os, pathlib\npathlib.Path(os.environ['PLANNER_LINT_MARKER']).write_text('x')\n"
                      "graph = build_graph()\n")
    assert findings(source) == []
    assert not marker.exists()


# --- graph files -------------------------------------------------------------------------------------------

GRAPH_CASES = {
    "good.py": [],
    "good.json": [],
    "lint_graph_tasks.py": [],
    "cycle.py": [(6, "PLN100", "the graph has a cycle: a -> b -> a")],
    "arity.py": [(7, "PLN100", "node 'multiply': multiply(value, factor) cannot take the upstream result")],
    "bad_arity.json": [(5, "PLN100", "node 'multiply'")],
    "missing_task.py": [(7, "PLN100", "node 'orphan' has no 'task' attribute")],
    "import_error.py": [(5, "PLN100", "RuntimeError: cannot build the graph")],
    "si_segment.py": [(6, "PLN101", "linear segment first -> second -> third is all .si()")],
    "other_name.py": [],  # its DiGraph is not named 'graph': Celery code only
    "noisy.py": [],  # prints at import: JSON on stdout must stay clean
    "loop_nodes.py": [(9, "PLN100", "node 'c' has no 'task' attribute")],  # located by add_edge
}


@pytest.mark.parametrize("name", sorted(GRAPH_CASES))
def test_graph_fixture(name):
    found = findings(GRAPHS / name)
    assert [(f["line"], f["code"]) for f in found] == [(line, code) for line, code, _ in GRAPH_CASES[name]]
    for finding, (_, _, text) in zip(found, GRAPH_CASES[name], strict=True):
        assert text in finding["message"]
        assert "\n" not in finding["message"]
        assert not finding["message"].startswith(str(GRAPHS))


def test_graph_fixtures_checked_together_do_not_leak_task_modules():
    """Each graph file imports its own modules; linting many in one process
    (examples/*/tasks.py all named ``tasks``) must not mix them."""
    found = findings(GRAPHS, ROOT / "examples")
    by_file = {}
    for f in found:
        by_file.setdefault(Path(f["path"]).name, []).append((f["line"], f["code"]))
    assert by_file == {name: [(line, code) for line, code, _ in cases]
                       for name, cases in GRAPH_CASES.items() if cases}


def test_modules_the_process_already_imported_do_not_leak_into_graph_files(monkeypatch):
    """A ``tasks`` module imported earlier in the process (another graph's)
    is hidden while each graph file loads, and put back after."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks", ROOT / "examples" / "etl" / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "tasks", module)
    assert findings(ROOT / "examples") == []
    assert sys.modules["tasks"] is module


def test_graph_attribute_option():
    found = findings(GRAPHS / "other_name.py", "--graph", "workflow")
    assert [(f["line"], f["code"]) for f in found] == [(6, "PLN101")]


def test_explicit_json_that_is_not_a_graph_is_a_finding(tmp_path):
    data = tmp_path / "settings.json"
    data.write_text('{"name": "x"}\n')
    (finding,) = findings(data)
    assert finding["code"] == "PLN100" and "no 'nodes'" in finding["message"]
    assert findings(tmp_path) == []  # walking a folder skips JSON that is not a node-link graph


def write_report(path: Path, results: dict) -> Path:
    path.write_text(json.dumps({"status": "SUCCESS", "nodes": {
        name: {"state": "SUCCESS", "result": result, "error": None} for name, result in results.items()}}))
    return path


def test_large_results_in_the_run_report(tmp_path):
    report = write_report(tmp_path / "run.json", {"add": "x" * 70_000, "multiply": 50, "log": "small"})
    found = findings(GRAPHS / "good.py", "--report", report)
    assert [(f["line"], f["code"]) for f in found] == [(6, "PLN102")]
    assert "node 'add' returned 70002 bytes" in found[0]["message"]
    assert "passed to 1 successor" in found[0]["message"]
    assert findings(GRAPHS / "good.py", "--report", report, "--max-result-bytes", "100000") == []
    lowered = findings(GRAPHS / "good.py", "--report", report, "--max-result-bytes", "6")
    assert [f["code"] for f in lowered] == ["PLN102", "PLN102"]  # 'add' and '"small"' (7 bytes)


def test_report_written_by_a_real_run(tmp_path):
    """The report format lint reads is the one `planner run --json` writes."""
    report = tmp_path / "etl.json"
    planner = ROOT / ".venv" / "bin" / "planner"
    command = [str(planner)] if planner.exists() else [sys.executable, "-m", "planner"]
    done = subprocess.run([*command, "run", "examples/etl/graph.py", "--local", "--json", str(report)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    found = findings("examples/etl/graph.py", "--report", report, "--max-result-bytes", "55")
    assert [(f["line"], f["code"]) for f in found] == [(12, "PLN102")] * 3 + [(14, "PLN102")]  # loop nodes at their add_node
    assert "node 'load' returned 69 bytes" in found[-1]["message"]
    assert findings("examples/etl/graph.py", "--report", report) == []


def test_large_result_of_a_node_no_linted_graph_has_points_at_the_report(tmp_path):
    report = write_report(tmp_path / "run.json", {"elsewhere": list(range(20_000))})
    (finding,) = findings(ROOT / "examples" / "chain" / "tasks.py", "--report", report)
    assert finding["code"] == "PLN102" and finding["path"].endswith("run.json")


@pytest.mark.parametrize("content, reason", [(None, "no such run report"), ("{", "not a JSON run report"),
                                             ('{"nodes": []}', "not a planner run report")])
def test_bad_run_report_is_a_usage_error(tmp_path, content, reason):
    report = tmp_path / "run.json"
    if content is not None:
        report.write_text(content)
    result = lint(GRAPHS / "good.py", "--report", report)
    assert result.exit_code == 2
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- the seed's examples -----------------------------------------------------------------------------------

def test_examples_are_clean():
    result = lint("examples")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "All checks passed!"


# --- suppression and selection -----------------------------------------------------------------------------

def test_noqa_with_codes_and_bare():
    found = findings(FIXTURES / "code" / "noqa.py")
    assert [(f["line"], f["code"]) for f in found] == [(20, "PLN002")]  # noqa: PLN001 does not hide PLN002


def test_noqa_on_a_graph_node_line(tmp_path):
    (tmp_path / "lint_graph_tasks.py").write_text((GRAPHS / "lint_graph_tasks.py").read_text())
    source = (GRAPHS / "si_segment.py").read_text()
    line = 'graph.add_node("first", task=refresh.si("a"))'
    assert line in source
    (tmp_path / "graph.py").write_text(source.replace(line, line + "  # noqa: PLN101"))
    assert findings(tmp_path / "graph.py") == []


def test_select_and_ignore():
    bad = FIXTURES / "code" / "pln001_bad.py"
    assert {f["code"] for f in findings(bad)} == {"PLN001", "PLN005"}
    assert {f["code"] for f in findings(bad, "--select", "PLN005")} == {"PLN005"}
    assert {f["code"] for f in findings(bad, "--ignore", "PLN001")} == {"PLN005"}
    assert findings(bad, "--select", "PLN00", "--ignore", "pln001,PLN005") == []
    assert findings(bad, "--select", "PLN1") == []


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_unknown_code_is_a_usage_error(option):
    result = lint("examples", option, "PLN001,XYZ9")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "planner: error: unknown rule code 'XYZ9' (known: PLN000, PLN001, PLN002, PLN003, PLN004, PLN005, "
        "PLN006, PLN007, PLN008, PLN009, PLN100, PLN101, PLN102)")


# --- exit codes and usage errors ---------------------------------------------------------------------------

def test_syntax_error_is_finding_pln000_and_cannot_be_ignored():
    broken = FIXTURES / "broken" / "syntax_error.py"
    for extra in ([], ["--ignore", "PLN000"], ["--select", "PLN001"]):
        found = findings(broken, *extra)
        assert [(f["line"], f["code"]) for f in found] == [(3, "PLN000")]
        assert found[0]["message"].startswith("syntax error")


@pytest.mark.parametrize("args, message", [
    ([], "give at least one PATH to lint"),
    (["no/such/path.py"], "no/such/path.py: no such file or directory"),
    (["README.md"], "README.md: not a .py or .json file"),
    (["examples", "--format", "xml"], "--format must be one of text, json, sarif, github, got 'xml'"),
    (["examples", "--max-result-bytes", "lots"], "--max-result-bytes must be a whole number of bytes"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    result = lint(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_file_that_is_not_utf8_is_pln000(tmp_path):
    source = tmp_path / "latin1.py"
    source.write_bytes(b"name = '\xe9t\xe9'\n")
    found = findings(source)
    assert [(f["line"], f["code"]) for f in found] == [(1, "PLN000")]


def test_exit_codes():
    assert lint(FIXTURES / "code" / "pln006_clean.py").exit_code == 0
    assert lint(FIXTURES / "code" / "pln006_bad.py").exit_code == 1


# --- formats -----------------------------------------------------------------------------------------------

def test_text_format_is_ruff_like():
    result = lint(FIXTURES / "code" / "pln006_bad.py")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "tests/fixtures/lint/code/pln006_bad.py:12:1: PLN006 chain of one signature",
        "  fix: use add.s(1, 2) in its place and start it with .delay() or .apply_async() (calling a signature, "
        "add.s(1, 2)(), runs the task in this process instead of sending it)",
    ]
    assert lines[-1] == "Found 4 findings."


def test_sarif_is_valid_and_matches_the_json_findings():
    schema = json.loads((FIXTURES / "sarif-2.1.0-subset.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    result = lint(FIXTURES / "code", GRAPHS, "--format", "sarif")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(document)
    assert document["version"] == "2.1.0" and "sarif-2.1.0" in document["$schema"]
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] == "planner"
    assert [rule["id"] for rule in rules][:3] == ["PLN000", "PLN001", "PLN002"]
    assert all(rule["shortDescription"]["text"] and rule["help"]["text"] for rule in rules)
    expected = findings(FIXTURES / "code", GRAPHS)
    located = []
    for sarif_result in run["results"]:
        location = sarif_result["locations"][0]["physicalLocation"]
        assert not Path(location["artifactLocation"]["uri"]).is_absolute()
        assert rules[sarif_result["ruleIndex"]]["id"] == sarif_result["ruleId"]
        assert sarif_result["level"] in ("error", "warning", "note")
        located.append((location["artifactLocation"]["uri"], location["region"]["startLine"],
                        location["region"]["startColumn"], sarif_result["ruleId"]))
    assert located == [(f["path"], f["line"], f["column"], f["code"]) for f in expected]


def test_sarif_rejects_what_code_scanning_would(tmp_path):
    """The subset schema is not a rubber stamp: a wrong level or a zero
    line fails it."""
    schema = json.loads((FIXTURES / "sarif-2.1.0-subset.json").read_text())
    document = json.loads(lint(FIXTURES / "code" / "pln006_bad.py", "--format", "sarif").stdout)
    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid(document)
    document["runs"][0]["results"][0]["level"] = "fatal"
    assert not validator.is_valid(document)
    document["runs"][0]["results"][0]["level"] = "error"
    document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert not validator.is_valid(document)


def test_clean_json_and_sarif():
    clean = FIXTURES / "code" / "pln001_clean.py"
    assert json.loads(lint(clean, "--format", "json").stdout) == {"findings": [], "notes": []}
    assert json.loads(lint(clean, "--format", "sarif").stdout)["runs"][0]["results"] == []


# --- issue 12: real code bases -----------------------------------------------------------------------------

CELERY_HEAD = "from celery import Celery, chain, chord, group\napp = Celery('t')\n\n@app.task\ndef add(x, y):\n    return x + y\n\n"


def test_modern_syntax_fixture_is_read_at_the_right_column():
    """Python 3.12/3.13 code under the 3.11 interpreter: no PLN000, and the
    finding after a PEP 701 f-string on the same line keeps its column."""
    found = findings(FIXTURES / "code" / "modern_syntax_bad.py")
    assert [(f["line"], f["column"], f["code"]) for f in found] == [(35, 57, "PLN002")]


@pytest.mark.parametrize("source", [
    "type Ids = list[int]\n",
    "type Pair[T: (int, str) = int] = tuple[T, T]\n",
    "def first[T](items: list[T]) -> T:\n    return items[0]\n",
    "class Box[\n    T,  # comment\n    *Ts,\n    **P,\n]:\n    pass\n",
    'x = f"{d["k"]}"\n',
    'x = f"{\n    d["k"]  # comment\n}" + "tail"\n',
    "x = f\"{'\\n'.join(parts)}\"\n",
    'x = f"{a!r:>{width}} {f"{b:{c}}"}"\n',
    'x = rf"{d["k"]}\\d"\n',
    "try:\n    pass\nexcept ValueError, TypeError:\n    pass\n",
    'é = t"{d["é"]}"; y = 1\n',
])
def test_newer_grammar_is_rewritten_in_place(source):
    import ast

    from planner.lint.modern import downgrade

    with pytest.raises(SyntaxError):
        ast.parse(source)
    rewritten = downgrade(source)
    ast.parse(rewritten)
    assert [len(line.encode()) for line in rewritten.split("\n")] == [len(line.encode()) for line in source.split("\n")]


def test_broken_code_stays_a_syntax_error(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text('from celery import chain\nlabel = f"{name}"\ndef run(:\n    pass\n')
    assert [(f["line"], f["code"]) for f in findings(source)] == [(3, "PLN000")]


def test_pln006_hints_keep_what_runs():
    by_line = {f["line"]: f for f in findings(FIXTURES / "code" / "pln006_bad.py")}
    called = by_line[13]["fix"]  # chain(add.si(1, 2))()
    assert "add.si(1, 2).delay()" in called and "in this process" in called
    assert "add.s(1, 2) in its place: .delay() works the same" in by_line[14]["fix"]


def test_pln001_says_what_it_assumes():
    (finding, *_) = findings(FIXTURES / "code" / "pln001_bad.py")
    assert "assumes each refresh call does not need the previous one's side effects" in finding["message"]
    assert "group(refresh.si(\"a\"), refresh.si(\"b\"), refresh.si(\"c\"))" in finding["fix"]


def test_pln008_both_shapes_on_one_line(tmp_path):
    source = tmp_path / "shapes.py"
    source.write_text(CELERY_HEAD + "chord([group(add.si(1, 1), chord([add.si(2, 2), add.si(3, 3)], add.s(4))), "
                      "add.si(5, 5)], add.s(6))\n")
    found = findings(source)
    assert [(f["line"], f["column"], f["code"]) for f in found] == [(8, 8, "PLN008"), (8, 28, "PLN008")]
    assert "group directly inside a chord header" in found[0]["message"]
    assert "chord directly inside a group within a chord header" in found[1]["message"]
    assert "chain(chord([add.si(2, 2), add.si(3, 3)], add.s(4)))" in found[1]["fix"]


def test_pln009_errback_names_celery_convention():
    found = {f["line"]: f for f in findings(FIXTURES / "code" / "pln009_bad.py")}
    assert "'backup' receives the failed task's id" in found[32]["message"]
    assert "bind=True" in found[32]["message"]
    assert "'exc' would get no value" in found[33]["message"]
    assert "'user_id' receives the request" in found[34]["message"]


def test_tasks_resolve_through_imports_not_names(tmp_path):
    """Two apps define ``add``; each import names its own, and a task
    imported from a module outside the linted files is not judged."""
    for package, params in (("billing", "x, y"), ("shipping", "x")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "tasks.py").write_text(f"from celery import shared_task\n\n@shared_task\ndef add({params}):\n"
                                                 "    return x\n")
    (tmp_path / "flow.py").write_text(
        "from celery import chain\nfrom billing.tasks import add\nfrom shipping.tasks import add as ship\n"
        "from elsewhere.tasks import add as other\n\n"
        "chain(add.s(1, 2), add.s(3))\n"      # billing add(x, y): fine
        "chain(add.s(1, 2), ship.s(3))\n"     # shipping add(x): result + 3 is too many
        "chain(add.s(1, 2), other.s(3, 4))\n")  # not linted: not judged
    found = findings(tmp_path)
    assert [(Path(f["path"]).name, f["line"], f["code"]) for f in found] == [("flow.py", 7, "PLN002")]


def test_package_reexports_are_followed(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "__init__.py").write_text("from .mail import send\n")
    (tmp_path / "jobs" / "mail.py").write_text("from celery import shared_task\n\n@shared_task\ndef send(to):\n"
                                               "    return to\n")
    (tmp_path / "views.py").write_text("from jobs import send\n\nsend.delay(to='a', subject='b')\n")
    assert [(f["line"], f["code"]) for f in findings(tmp_path)] == [(3, "PLN002")]


def test_json_with_nodes_that_is_not_a_graph(tmp_path):
    """A security scanner's report has a top-level "nodes": walking a folder
    skips it; named explicitly it is a clear PLN100, never a KeyError."""
    report = tmp_path / "scan" / "report.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"nodes": [{"path": "app.py", "issues": []}], "summary": {"high": 0}}))
    assert findings(tmp_path) == []
    (finding,) = findings(report)
    assert finding["code"] == "PLN100"
    assert finding["message"] == "not a networkx node-link graph: no 'edges' (or 'links') list"


def test_sarif_uris_relative_to_srcroot_and_percent_encoded(tmp_path):
    """A path outside the working directory: %SRCROOT% becomes the folder
    holding the findings (named in originalUriBaseIds); uris stay relative."""
    source = tmp_path / "sp ace" / "té st.py"
    source.parent.mkdir()
    source.write_text(CELERY_HEAD + "chain(add.s(1, 2))\n")
    schema = json.loads((FIXTURES / "sarif-2.1.0-subset.json").read_text())
    document = json.loads(lint(source, "--format", "sarif").stdout)
    jsonschema.Draft7Validator(schema).validate(document)
    run = document["runs"][0]
    location = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "t%C3%A9%20st.py", "uriBaseId": "%SRCROOT%"}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == source.parent.as_uri() + "/"
    inside = json.loads(lint(FIXTURES / "code" / "pln006_bad.py", "--format", "sarif").stdout)["runs"][0]
    assert inside["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    assert inside["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "tests/fixtures/lint/code/pln006_bad.py"


def test_process_pool_finds_the_same(monkeypatch):
    """Large trees are read by worker processes: same findings, same order."""
    from planner.lint import engine, lint_paths

    serial = lint_paths([str(FIXTURES / "code"), str(GRAPHS)])
    monkeypatch.setattr(engine, "PARALLEL_FROM", 1)
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    assert lint_paths([str(FIXTURES / "code"), str(GRAPHS)]) == serial


FAST_PATTERN_TEXTS = [
    "chain(add.s(1), log.si())", "x = a.\n    s(1)", "g = group(\n  t.si(1) for t in ts)", "chained = groups | chords",
    "task_id = my_task.delay(1)", "shared_task\nsubtasks = 1", "read = f.\n read()", "n = 10 *\n 1000",
    "for i in range(10, 100000): pass", "x = 1_000 * 'a'", "y = '٣٣٣' * 3", "c2(x) if c else c(y)",
    "sig.set (queue='a') | other.signature ( )", "json.loads(x); json.load(f)", "xchain(1); chain_(2); _group(3)",
]


def test_fast_pre_filter_and_hot_lines_match_their_definitions():
    """The pre-filter (substring tests) and the hot-line patterns written
    to start with literal characters select exactly what the readable
    patterns select, on the fixtures, the examples, planner's own code
    and edge cases (a match across lines, non-ASCII digits, aliases)."""
    from planner.lint import collect, engine

    texts = list(FAST_PATTERN_TEXTS)
    for folder in (FIXTURES, ROOT / "examples", ROOT / "planner"):
        texts += [path.read_text(encoding="utf-8", errors="replace") for path in sorted(folder.rglob("*.py"))]
    for text in texts:
        assert engine.relevant(text) == bool(engine.RELEVANT.search(text)), text[:80]
        lines = collect._matching_lines
        assert lines(re.compile(collect._HOT_FAST), text) == lines(collect._HOT, text), text[:80]
        with_alias = collect._HOT.pattern + r"|\bc\b|\bc2\b"
        fast_alias = collect._HOT_FAST + f"|{collect._word('c')}\\b|{collect._word('c2')}\\b"
        assert lines(re.compile(fast_alias), text) == lines(re.compile(with_alias), text), text[:80]
        if text.isascii():
            assert lines(collect._BIG_FAST, text) == lines(collect._BIG, text), text[:80]
