"""Git: the repository of a project, the one way to run git, and what its tree holds."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import git

#: seconds any git command may take before it is killed
GIT_TIMEOUT = 300.0
NOT_A_REPO = "not inside a git repository: run 'git init' first, or run from your project"


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
    if repo is None:
        return "(not a git repository)"
    try:
        status = repo.git.status("--short", "--untracked-files=all")
        stat = repo.git.diff("--stat", "HEAD") if repo.head.is_valid() else ""
    except git.GitCommandError as exc:
        return f"(git failed: {fold_stderr(exc.stderr or str(exc))})"
    text = "\n\n".join(part for part in (status, stat) if part.strip()) or "(no changes)"
    return text if len(text) <= limit else text[:limit] + "\n... (cut)"


def fold_stderr(text: str, hints: bool = True) -> str:
    """git's message folded into one line, without gitpython's "stderr:" wrapping."""
    lines = (line.strip().removeprefix("stderr:").strip(" '") for line in str(text).splitlines())
    kept = (line for line in lines if line and (hints or not line.startswith("hint:")))
    return " ".join(kept)[:300]


class WorkspaceError(Exception):
    """A worktree, clone or git command failed; ``reason`` is one line, ``details`` follow."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


def run_git(cwd: Path, *args: str) -> str:
    """git in ``cwd`` (never prompting); WorkspaceError with git's message on failure."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=GIT_TIMEOUT
        )
    except FileNotFoundError:
        raise WorkspaceError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise WorkspaceError(f"git {' '.join(args[:2])} timed out") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        text = " ".join(ln for ln in lines if not ln.startswith("hint:"))
        raise WorkspaceError(text[:400] or f"git {args[0]} exited with code {done.returncode}")
    return done.stdout.strip()


def top_of(project_dir: Path) -> Path | None:
    """The top of the repository holding ``project_dir``, or None."""
    try:
        return Path(run_git(project_dir, "rev-parse", "--show-toplevel")).resolve()
    except WorkspaceError:
        return None
