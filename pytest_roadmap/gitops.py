"""Git for the controller's tree: preflight checks and each phase's commit and push."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import git

from pytest_roadmap.plan import Plan
from pytest_roadmap.roadmap import Phase

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


@dataclass
class CommitOutcome:
    """What the phase commit did; ``failure`` is one line when it failed."""

    sha: str | None = None
    pushed_to: str | None = None
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    details: str = ""

    def properties(self) -> list[tuple[str, object]]:
        """Report properties for JUnit and the summary."""
        props: list[tuple[str, object]] = []
        if self.sha:
            props.append(("commit", self.sha))
        if self.pushed_to:
            props.append(("pushed_to", self.pushed_to))
        props += [("note", note) for note in self.notes]
        return props


def commit_message(plan: Plan, phase: Phase) -> str:
    """Subject, a body listing each group and task, and the Roadmap-* trailers."""
    lines = [f"Complete Phase {phase.number}: {phase.title}".rstrip(": "), ""]
    for group in phase.groups:
        lines.append(f"Group {group.id}: {group.title}".rstrip(": "))
        for task in group.tasks:
            local = f"phase{phase.number}::group{group.id}::{task.id}"
            status = plan.static_skips.get(local, "done")
            lines.append(f"- {task.id}: {task.title} ({status})")
    groups = ",".join(group.id for group in phase.groups)
    lines += ["", f"Roadmap-Phase: {phase.number}", f"Roadmap-Groups: {groups}"]
    return "\n".join(lines) + "\n"


def commit_phase(
    repo_dir: Path, message: str, exclude: Sequence[Path], push: bool
) -> CommitOutcome:
    """Stage everything but ``exclude`` (and .gitignore'd files), commit, push upstream."""
    outcome = CommitOutcome()
    repo = open_repo(repo_dir)
    if repo is None:
        outcome.failure = NOT_A_REPO
        return outcome
    top = Path(repo.working_tree_dir or repo_dir)
    excluded = [_relative(p, top) for p in exclude if _inside(p, top)]
    # git add refuses to name an ignored path, even to exclude it
    ignored = set(repo.ignored(*excluded)) if excluded else set()
    pathspec = ["."] + [f":(exclude){p}" for p in excluded if p not in ignored]
    try:
        repo.git.add("--all", "--", *pathspec)
        if repo.head.is_valid() and not repo.index.diff("HEAD"):
            outcome.notes.append("nothing to commit")
            return outcome
        repo.git.commit("-m", message, "--no-verify")
    except git.GitCommandError as exc:
        outcome.failure = "git commit failed: " + _one_line(exc.stderr or str(exc))
        return outcome
    outcome.sha = repo.head.commit.hexsha
    if push:
        _push(repo, outcome)
    return outcome


def _push(repo: git.Repo, outcome: CommitOutcome) -> None:
    if repo.head.is_detached:
        outcome.notes.append("detached HEAD: not pushed")
        return
    branch = repo.active_branch
    upstream = branch.tracking_branch()
    if upstream is None:
        outcome.notes.append(f"branch {branch.name} has no upstream: not pushed")
        return
    remote, head = upstream.remote_name, upstream.remote_head
    try:
        repo.git.push(remote, f"HEAD:refs/heads/{head}")
    except git.GitCommandError as exc:
        outcome.failure = (
            f"git push to {remote} failed: {_one_line(exc.stderr or str(exc))}; "
            f"the commit is kept locally; push it with: git push {remote} {branch.name}"
        )
        outcome.details = str(exc.stderr or "").strip()
        return
    outcome.pushed_to = f"{remote}/{head}"


def _one_line(text: str) -> str:
    """git's message folded into one line, without gitpython's "stderr:" wrapping."""
    lines = (line.strip().removeprefix("stderr:").strip(" '") for line in str(text).splitlines())
    return " ".join(line for line in lines if line)[:300]


def _inside(path: Path, top: Path) -> bool:
    try:
        path.resolve().relative_to(top.resolve())
    except ValueError:
        return False
    return True


def _relative(path: Path, top: Path) -> str:
    return str(path.resolve().relative_to(top.resolve()))
