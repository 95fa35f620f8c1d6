"""Graph files as they were at a git revision: ``REV:PATH``.

``planner plan NEW --diff HEAD~1:pipelines/etl.py`` compares a graph with
its older self without a second checkout. The old graph file is imported
as the new one is, so :func:`checked_out` writes the graph file's folder
as it was at ``REV`` (with its subfolders, read with ``git archive``) into
a temporary folder, at the same place relative to the repository's root,
and yields the old file there. So:

- ``from tasks import ...`` beside the graph file reads the sibling
  ``tasks.py`` as it was at ``REV`` (the graph file's folder comes first on
  ``sys.path``, and a same-named module loaded for the new graph is
  forgotten, as when loading any graph file);
- packages found from the working directory or installed
  (``from shop.tasks import ...`` run from the project root) are the ones
  you have now: the old graph is planned against today's tasks, which
  is what a reviewer compares against. An old graph that imports a task
  the working tree no longer has fails to load, naming it.

``PATH`` is relative to the repository's root, as ``git show REV:PATH``
reads it (``REV:./PATH`` relative to the working directory). The
temporary folder is removed afterwards. Problems (no git, not a
repository, a bad revision, a path the revision does not have) are a
:class:`PlannerError` of one line.

>>> looks_like_revision("HEAD~1:pipelines/etl.py"), looks_like_revision("old/etl.py")
(True, False)
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import PlannerError

#: How long one git command may take (every wait has a timeout).
GIT_TIMEOUT = 120.0


def looks_like_revision(spec: str) -> bool:
    """``REV:PATH`` rather than a file: it has a colon and no such file exists."""
    return ":" in spec and not Path(spec).exists()


def _git(args: list[str], what: str) -> bytes:
    command = next(a for a in args if not a.startswith("-") and not os.path.isabs(a))
    git = shutil.which("git")
    if git is None:
        raise PlannerError(f"{what}: git is not installed (reading REV:PATH needs it)")
    try:
        done = subprocess.run([git, *args], capture_output=True, timeout=GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise PlannerError(f"{what}: git {command} took longer than {GIT_TIMEOUT:g} s") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise _GitFailed(f"{what}: git {command} failed: "
                         + (message[-1] if message else f"exit code {done.returncode}"))
    return done.stdout


class _GitFailed(PlannerError):
    pass


def resolve(spec: str) -> tuple[str, str, str]:
    """``(repository root, commit, path from the root)`` for ``REV:PATH``,
    checked: raises :class:`PlannerError` naming what is wrong."""
    rev, _, path = spec.partition(":")
    if not rev or not path:
        raise PlannerError(f"--diff {spec}: give REV:PATH, a git revision and a file in it "
                           "(e.g. HEAD~1:pipelines/etl.py), or an existing file")
    try:
        top = _git(["rev-parse", "--show-toplevel"], spec).decode().strip()
        prefix = _git(["rev-parse", "--show-prefix"], spec).decode().strip()
    except _GitFailed:
        raise PlannerError(f"--diff {spec}: {os.getcwd()} is not in a git repository, so there is no "
                           f"revision '{rev}' to read (and no file named '{spec}')") from None
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], spec)
    except _GitFailed:
        raise PlannerError(f"--diff {spec}: '{rev}' is not a revision of this repository "
                           f"(a commit, branch or tag; try 'git log' or 'git fetch')") from None
    commit_id = commit.decode().strip()
    full = posixpath.normpath(posixpath.join(prefix, path)) if path.startswith(("./", "../")) else \
        posixpath.normpath(path)
    if full.startswith("../") or full == "..":
        raise PlannerError(f"--diff {spec}: '{path}' is outside the repository")
    try:
        kind = _git(["cat-file", "-t", f"{commit_id}:{full}"], spec).decode().strip()
    except _GitFailed:
        raise PlannerError(f"--diff {spec}: '{full}' is not in revision '{rev}' "
                           f"(paths are from the repository's root; REV:./PATH is from here)") from None
    if kind != "blob":
        raise PlannerError(f"--diff {spec}: '{full}' is a {'folder' if kind == 'tree' else kind} in revision "
                           f"'{rev}', not a graph file")
    return top, commit_id, full


@contextlib.contextmanager
def checked_out(spec: str) -> Iterator[Path]:
    """The graph file of ``REV:PATH`` in a temporary copy of its folder at
    ``REV`` (see the module docstring); removed on exit. Errors raised
    inside that name the temporary copy are told in ``REV:`` terms."""
    top, commit, full = resolve(spec)
    rev = spec.partition(":")[0]
    folder = posixpath.dirname(full)
    archive = _git(["-C", top, "archive", "--format=tar", commit, *(["--", folder] if folder else [])], spec)
    root = Path(tempfile.mkdtemp(prefix="planner-diff-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(root, filter=_inside)
        path = root / full
        try:
            yield path
        except PlannerError as error:
            raise type(error)(_in_revision_terms(str(error), root, path, rev, spec)) from error
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _inside(member: tarfile.TarInfo, destination: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter (nothing outside the folder, no devices), a
    member it refuses skipped (a symlink out of the repository) rather than
    failing the whole diff."""
    try:
        return tarfile.data_filter(member, destination)
    except tarfile.FilterError:
        return None


def _in_revision_terms(message: str, root: Path, path: Path, rev: str, spec: str) -> str:
    """``/tmp/planner-diff-x/pipelines/etl.py:3: ...`` → ``HEAD~1:pipelines/etl.py:3: ...``."""
    for where in {str(root), str(root.resolve())}:
        message = message.replace(f"{where}/{path.relative_to(root)}", spec)
        message = message.replace(f"{where}/", f"{rev}:").replace(where, f"{rev}:")
    return message
