"""Each phase's commit of the controller's tree, and its push upstream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import git

from pytest_roadmap.model.plan import Plan
from pytest_roadmap.model.plan import local_id
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.paths import inside
from pytest_roadmap.paths import relative_to
from pytest_roadmap.workspace.git import NOT_A_REPO
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import open_repo
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.push import push


@dataclass
class CommitOutcome:
    """What the phase commit did; ``failure`` is one line when it failed."""

    sha: str | None = None
    #: the tree had no change since the last commit: no commit was made
    nothing_to_commit: bool = False
    pushed_to: str | None = None
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    details: str = ""
    #: the failure is the push's: the commit was made and is kept locally
    push_failed: bool = False


def commit_message(plan: Plan, phase: Phase) -> str:
    """Subject, a body listing each group and task, and the Roadmap-* trailers."""
    lines = [f"Complete Phase {phase.number}: {phase.title}".rstrip(": "), ""]
    for group in phase.groups:
        lines.append(f"Group {group.id}: {group.title}".rstrip(": "))
        for task in group.tasks:
            status = plan.static_skips.get(local_id(phase, group, task.id), "done")
            lines.append(f"- {task.id}: {task.title} ({status})")
    groups = ",".join(group.id for group in phase.groups)
    lines += ["", f"Roadmap-Phase: {phase.number}", f"Roadmap-Groups: {groups}"]
    return "\n".join(lines) + "\n"


def report_paths(project_dir: Path, reports: Sequence[str | None]) -> list[Path]:
    """What the phase commit leaves out besides the log directory: ``logs/``, report files."""
    return [project_dir / "logs", *(Path(report).absolute() for report in reports if report)]


def commit_phase(
    repo_dir: Path, message: str, exclude: Sequence[Path], push: bool
) -> CommitOutcome:
    """Stage everything but ``exclude`` (and .gitignore'd files), commit, push upstream.

    With nothing to commit, commits already made but not pushed are pushed all the same.
    """
    outcome = CommitOutcome()
    repo = open_repo(repo_dir)
    if repo is None:
        outcome.failure = NOT_A_REPO
        return outcome
    top = Path(repo.working_tree_dir or repo_dir)
    try:
        run_git(top, "add", "--all", "--", *stage_pathspec(top, exclude), hints=True)
        if repo.head.is_valid() and not repo.index.diff("HEAD"):
            outcome.nothing_to_commit = True
        else:
            run_git(top, "commit", "-m", message, "--no-verify", hints=True)
            outcome.sha = repo.head.commit.hexsha
    except WorkspaceError as exc:
        outcome.failure = f"git commit failed: {exc.reason}"
        outcome.details = exc.details
        return outcome
    if push and (outcome.sha or unpushed_commits(repo) != 0):
        _push(repo, outcome)
    return outcome


def stage_pathspec(top: Path, exclude: Sequence[Path]) -> list[str]:
    """The pathspec of ``git add --all`` staging the tree at ``top`` but ``exclude``."""
    excluded = [relative_to(p, top) for p in exclude if inside(p, top) and p.exists()]
    # git add refuses to name an ignored path, even to exclude it
    ignored = set(_ignored(top, excluded))
    return ["."] + [f":(exclude){p}" for p in excluded if p not in ignored]


def _ignored(top: Path, paths: Sequence[str]) -> list[str]:
    """Those of ``paths`` that .gitignore (or .git/info/exclude) ignores."""
    if not paths:
        return []
    # exit code 1: none is ignored; quotePath off: non-ASCII names unquoted
    listed = run_git(top, "-c", "core.quotePath=false", "check-ignore", "--", *paths, check=False)
    return listed.splitlines()


def unpushed_commits(repo: git.Repo) -> int | None:
    """Commits on the current branch that its upstream lacks; None without an upstream.

    -1 when the upstream is configured but its remote-tracking ref is missing (never
    fetched): a push is worth trying.
    """
    if not repo.head.is_valid() or repo.head.is_detached:
        return None
    try:
        upstream = repo.active_branch.tracking_branch()
    except (TypeError, ValueError):
        return None
    if upstream is None:
        return None
    if not upstream.is_valid():
        return -1
    try:
        return int(run_git(_top(repo), "rev-list", "--count", f"{upstream.path}..HEAD"))
    except (WorkspaceError, ValueError):
        return -1


def has_unpushed(repo_dir: Path) -> bool:
    """True when the current branch has an upstream that lacks some of its commits."""
    repo = open_repo(repo_dir)
    return repo is not None and (unpushed_commits(repo) or 0) != 0


def push_pending(repo_dir: Path) -> CommitOutcome | None:
    """Push commits an earlier run made but could not push; None when there are none."""
    repo = open_repo(repo_dir)
    if repo is None or (unpushed_commits(repo) or 0) == 0:
        return None
    outcome = CommitOutcome()
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
    done = push(_top(repo), remote, branch.name, head)
    if done.failure is not None:
        outcome.failure, outcome.details = done.failure, done.details
        outcome.push_failed = True
        return
    if done.rebased:
        outcome.notes.append(f"{remote}/{head} had moved: rebased onto it, then pushed")
    outcome.pushed_to = f"{remote}/{head}"


def _top(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir or repo.git_dir)
