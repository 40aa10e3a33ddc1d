"""Git: the repository of a project, the one way to run git, and what its tree holds.

Every git command goes through :func:`run_git`: it never prompts, is bounded by a timeout
(then git and whatever it started are ended) and fails with a :class:`WorkspaceError`
whose reason is git's message folded into one line by :func:`fold`. gitpython answers the
queries that are not commands: the repository of a directory, its configuration, index
diffs, untracked files, branches.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

import git

from pytest_roadmap.process import JOIN_TIMEOUT
from pytest_roadmap.process import kill_tree
from pytest_roadmap.text import REASON_MAX

#: seconds any git command may take before it is killed
GIT_TIMEOUT = 300.0
NOT_A_REPO = "not inside a git repository: run 'git init' first, or run from your project"

#: git never prompts (a push that needs a password fails instead of hanging) and speaks
#: English, as the messages quoting it do
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LANGUAGE": "C", "LC_ALL": "C"}


def open_repo(path: Path) -> git.Repo | None:
    """The repository containing ``path``, or None."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def identity_problem(repo: git.Repo) -> str | None:
    """Why git could not author a commit here, or None."""
    reader = repo.config_reader()
    missing = [key for key in ("name", "email") if not reader.get_value("user", key, default="")]
    if not missing:
        return None
    return (
        "git has no user." + " or user.".join(missing) + ": set it with "
        "git config user.name 'Your Name' and git config user.email you@example.com"
    )


def dirty_paths(repo: git.Repo, ignore: Sequence[str]) -> list[str]:
    """Changed or untracked paths, except those under ``ignore`` prefixes."""
    changed = {item.a_path for item in repo.index.diff(None) if item.a_path}
    if repo.head.is_valid():
        changed |= {item.a_path for item in repo.index.diff("HEAD") if item.a_path}
    changed |= set(repo.untracked_files)
    return sorted(p for p in changed if not any(p.startswith(prefix) for prefix in ignore))


def changes_since_commit(repo_dir: Path, limit: int = 8000) -> str:
    """``git status --short`` and ``git diff --stat HEAD``, at most ``limit`` characters.

    For prompts (the gate's repair agent): what the working tree changed since HEAD.
    """
    repo = open_repo(repo_dir)
    if repo is None or repo.working_tree_dir is None:
        return "(not a git repository)"
    top = Path(repo.working_tree_dir)
    try:
        status = run_git(top, "status", "--short", "--untracked-files=all", hints=True)
        stat = run_git(top, "diff", "--stat", "HEAD", hints=True) if repo.head.is_valid() else ""
    except WorkspaceError as exc:
        return f"(git failed: {exc.reason})"
    text = "\n\n".join(part for part in (status, stat) if part.strip()) or "(no changes)"
    return text if len(text) <= limit else text[:limit] + "\n... (cut)"


class WorkspaceError(Exception):
    """A worktree, clone or git command failed; ``reason`` is one line, ``details`` follow."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


def fold(message: str, hints: bool = False) -> str:
    """git's message on one line: its lines stripped and joined, blank lines and (unless
    ``hints``) ``hint:`` lines left out, at most ``REASON_MAX`` characters."""
    lines = (line.strip() for line in message.splitlines())
    kept = (line for line in lines if line and (hints or not line.startswith("hint:")))
    return " ".join(kept)[:REASON_MAX]


def run_git(
    cwd: Path,
    *args: str,
    check: bool = True,
    timeout: float = GIT_TIMEOUT,
    hints: bool = False,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> str:
    """``git <args>`` in ``cwd``; its output, without the trailing newline.

    When git fails: with ``check`` a :class:`WorkspaceError` whose reason is git's message
    folded (keeping its hints when ``hints``) and whose details are the whole message when
    the reason left some of it out; without ``check`` the output all the same. git missing,
    or running longer than ``timeout`` seconds (then it is ended, with all it started), is
    a WorkspaceError either way. ``env`` adds variables (``GIT_INDEX_FILE``) to git's;
    ``stdin`` is its input.
    """
    what = _named(args)
    try:
        proc = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **GIT_ENV, **(env or {})},
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError:
        if not cwd.is_dir():
            raise WorkspaceError(f"cannot run {what}: {cwd} is not a directory") from None
        raise WorkspaceError("git is not installed") from None
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(proc)
        raise WorkspaceError(f"{what} timed out") from None
    except BaseException:
        _end(proc)
        raise
    stdout = out.decode("utf-8", "replace").rstrip("\n")
    if proc.returncode == 0 or not check:
        return stdout
    message = err.decode("utf-8", "replace").strip()
    reason = fold(message, hints) or f"{what} exited with code {proc.returncode}"
    raise WorkspaceError(reason, message if reason != message else "")


def _named(args: Sequence[str]) -> str:
    """How messages name a git command: ``git worktree add``, ``git commit`` (no options)."""
    words = list(args[:2])
    if words[1:] and words[1].startswith("-"):
        words.pop()
    return " ".join(["git", *words])


def _end(proc: subprocess.Popen[bytes]) -> None:
    """End git and whatever it started (an ssh, a credential helper), then reap it."""
    kill_tree(proc.pid, JOIN_TIMEOUT)
    with contextlib.suppress(subprocess.TimeoutExpired):  # an escapee still holds the pipes
        proc.communicate(timeout=JOIN_TIMEOUT)


def top_of(project_dir: Path) -> Path | None:
    """The top of the repository holding ``project_dir``, or None."""
    try:
        return Path(run_git(project_dir, "rev-parse", "--show-toplevel")).resolve()
    except WorkspaceError:
        return None
