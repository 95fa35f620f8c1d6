"""`planner lint` where reviews happen (issue 14, item 3): GitHub Actions
annotations (``--format github``), the pre-commit hook (run for real with
``pre-commit try-repo`` on a temporary repository), and the README's CI
recipe."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import app
from planner.lint.findings import RULES

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)


def lint(*args, env=None):
    return CliRunner().invoke(app, ["lint", *map(str, args)], env=env)


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command read as the Actions runner reads it (command,
    properties split on ',' and '=', then unescaped; data unescaped)."""
    assert line.startswith("::"), line
    head, separator, data = line[2:].partition("::")
    assert separator, line
    command, _, properties = head.partition(" ")
    unescape = {"%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ",", "%25": "%"}

    def unescaped(value: str, keys) -> str:
        return re.sub("|".join(keys), lambda match: unescape[match.group(0)], value)

    found = {}
    for pair in filter(None, properties.split(",")):
        key, _, value = pair.partition("=")
        found[key] = unescaped(value, ("%0D", "%0A", "%3A", "%2C", "%25"))
    return command, found, unescaped(data, ("%0D", "%0A", "%25"))


# --- --format github ---------------------------------------------------------------------------------------

def test_github_annotations_say_what_json_says():
    """One command per finding, at its place, with the rule's level, the
    message and the fix, readable back exactly as GitHub reads it."""
    targets = (FIXTURES / "code", FIXTURES / "graphs")
    findings = __import__("json").loads(lint(*targets, "--format", "json").stdout)["findings"]
    result = lint(*targets, "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(findings)
    for line, finding in zip(lines, findings, strict=True):
        command, properties, message = parse_command(line)
        rule = RULES[finding["code"]]
        assert command == {"error": "error", "warning": "warning", "note": "notice"}[rule.level]
        assert properties == {"title": f"planner ({finding['code']} {rule.name})", "file": finding["path"],
                              "line": str(finding["line"]), "col": str(finding["column"]),
                              "endLine": str(finding["line"]), "endColumn": str(finding["column"])}
        assert message == finding["message"] + (f"\nfix: {finding['fix']}" if finding["fix"] else "")
    assert {parse_command(line)[0] for line in lines} == {"error", "warning", "notice"}


def test_github_escapes_properties_and_data(tmp_path, monkeypatch):
    """``%``, CR, LF escaped in the message; ``:`` and ``,`` too in
    properties (here a path with both)."""
    folder = tmp_path / "odd, dir: yes"
    folder.mkdir()
    source = folder / "100%, really.py"
    source.write_text("from celery import Celery, chain\napp = Celery('t')\n\n@app.task\ndef add(x, y):\n"
                      "    return x + y\n\nchain(add.s(1, 2), add.s('50%', 3))\n")
    monkeypatch.chdir(tmp_path)
    result = lint(source.relative_to(tmp_path), "--format", "github")
    (line,) = result.stdout.strip().splitlines()
    assert "file=odd%2C dir%3A yes/100%25%2C really.py,line=8,col=20," in line
    assert "'50%25', 3" in line and "%0Afix%3A" not in line and "%0Afix: " in line
    assert "\n" not in line
    _, properties, message = parse_command(line)
    assert properties["file"] == "odd, dir: yes/100%, really.py"
    assert "cannot take the upstream result plus ('50%', 3)" in message


def test_github_paths_are_relative_to_the_workspace(tmp_path):
    """Run from a subfolder of the checkout, annotations still name the
    file from the repository root (``$GITHUB_WORKSPACE``)."""
    bad = FIXTURES / "code" / "pln007_bad.py"
    inside = lint(bad, "--format", "github", env={"GITHUB_WORKSPACE": str(ROOT / "tests")}).stdout
    assert all(parse_command(line)[1]["file"] == "fixtures/lint/code/pln007_bad.py" for line in inside.splitlines())
    outside = lint(bad, "--format", "github", env={"GITHUB_WORKSPACE": str(tmp_path)}).stdout
    assert parse_command(outside.splitlines()[0])[1]["file"] == "tests/fixtures/lint/code/pln007_bad.py"


def test_github_clean_run_prints_nothing_and_notes_are_notices():
    clean = lint(FIXTURES / "code" / "pln001_clean.py", "--format", "github")
    assert (clean.exit_code, clean.stdout) == (0, "")
    noted = lint(FIXTURES / "read" / "environment_loop.py", "--format", "github")
    assert noted.exit_code == 0
    command, properties, message = parse_command(noted.stdout.strip())
    assert command == "notice" and properties["line"] == "8" and "--import-graphs" in message


# --- pre-commit --------------------------------------------------------------------------------------------

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_hook_manifest():
    (hook,) = HOOKS
    assert hook["id"] == "planner-lint" and hook["language"] == "python"
    assert hook["types_or"] == ["python", "json"] and hook["require_serial"] is True
    assert hook["entry"] == "planner lint --skip-unrelated"


def test_skip_unrelated_lints_what_a_walk_would(tmp_path):
    """What pre-commit passes: every changed .py/.json (and Python scripts
    without a suffix). Unrelated ones are skipped, not errors."""
    (tmp_path / "package.json").write_text('{"name": "web"}')
    (tmp_path / "settings.py").write_text("DEBUG = (\n")  # broken, but nothing Celery-like: the Python linter's job
    (tmp_path / "manage").write_text("#!/usr/bin/env python\nprint('hi')\n")
    bad = shutil.copy(FIXTURES / "code" / "pln007_bad.py", tmp_path / "flow.py")
    files = [tmp_path / "package.json", tmp_path / "settings.py", tmp_path / "manage", bad]
    assert lint(*files).exit_code == 2  # without the option: 'manage' is not a .py or .json file
    result = lint(*files, "--skip-unrelated", "--format", "json")
    codes = {(Path(f["path"]).name, f["code"]) for f in __import__("json").loads(result.stdout)["findings"]}
    assert codes == {("flow.py", "PLN007")}


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=planner", "-c", "user.email=planner@example.com", *args], cwd=folder,
                   check=True, capture_output=True, timeout=60)


@pytest.mark.timeout(900)
def test_pre_commit_try_repo_runs_the_hook(tmp_path):
    """``pre-commit try-repo`` installs this repository into its own
    environment (pip, as pre-commit does for every team) and runs the hook
    on a temporary repository: findings fail it, graph files are read
    without running them, unrelated files are skipped."""
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q")
    shutil.copy(FIXTURES / "code" / "pln007_bad.py", project / "flow.py")
    for name in ("graph_bomb.py", "bomb_tasks.py"):
        shutil.copy(FIXTURES / "side_effects" / name, project / name)
    (project / "package.json").write_text('{"name": "web"}')
    (project / "manage").write_text("#!/usr/bin/env python\nprint('hi')\n")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "a project")
    marker = tmp_path / "imported"
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PLANNER_LINT_MARKER": str(marker),
           "PRE_COMMIT_COLOR": "never"}
    env.pop("GITHUB_WORKSPACE", None)

    done = subprocess.run([pre_commit, "try-repo", str(ROOT), "planner-lint", "--all-files"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=840)
    output = done.stdout + done.stderr
    if done.returncode == 3 and ("No matching distribution" in output or "Could not find a version" in output):
        pytest.skip("pre-commit could not install the hook's environment: no package index reachable here")
    assert done.returncode == 1, output
    assert "planner lint" in output and "Failed" in output
    assert "flow.py:12:1: PLN007" in output
    assert "graph_bomb.py:14:1: PLN100" in output
    assert "package.json" not in output and "manage" not in output
    assert not marker.exists() and not Path(f"{marker}.tasks").exists()


# --- the README's CI recipe ----------------------------------------------------------------------------------

def _readme_yaml(marker: str) -> dict:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    (block,) = [b for b in blocks if marker in b]
    return yaml.safe_load(block)


def test_readme_ci_recipe_uploads_lint_sarif():
    workflow = _readme_yaml("upload-sarif")
    (job,) = workflow["jobs"].values()
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    lint_step = next(step for step in steps if "planner lint" in step.get("run", ""))
    assert "--format sarif" in lint_step["run"] and "> planner.sarif" in lint_step["run"]
    upload = next(step for step in steps if "upload-sarif" in step.get("uses", ""))
    assert upload["with"]["sarif_file"] == "planner.sarif"
    assert upload.get("if") == "always()"  # findings exit 1: upload them anyway
    assert "--import-graphs" not in str(workflow)  # a pull request's code must not run with the CI's secrets


def test_readme_pre_commit_snippet_names_the_hook():
    config = _readme_yaml("planner-lint")
    (repo,) = config["repos"]
    assert repo["hooks"] == [{"id": "planner-lint"}] and "rev" in repo
