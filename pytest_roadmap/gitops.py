"""Git for the controller's tree: preflight checks, each phase's commit and push, history."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import git

from pytest_roadmap.plan import Plan
from pytest_roadmap.plan import group_key
from pytest_roadmap.roadmap import Phase
from pytest_roadmap.roadmap import Roadmap

NOT_A_REPO = "not inside a git repository: run 'git init' first, or run from your project"
#: how far back the history scan for completed groups looks
HISTORY_LIMIT = 1000
#: seconds a push may take before it is killed (it never prompts for credentials)
PUSH_TIMEOUT = 300
#: git without prompts: a push that needs a password fails instead of hanging
NO_PROMPT_ENV = {"GIT_TERMINAL_PROMPT": "0"}


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
        return f"(git failed: {_one_line(exc.stderr or str(exc))})"
    text = "\n\n".join(part for part in (status, stat) if part.strip()) or "(no changes)"
    return text if len(text) <= limit else text[:limit] + "\n... (cut)"


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
    excluded = [_relative(p, top) for p in exclude if _inside(p, top) and p.exists()]
    # git add refuses to name an ignored path, even to exclude it
    ignored = set(repo.ignored(*excluded)) if excluded else set()
    pathspec = ["."] + [f":(exclude){p}" for p in excluded if p not in ignored]
    try:
        repo.git.add("--all", "--", *pathspec)
        if repo.head.is_valid() and not repo.index.diff("HEAD"):
            outcome.notes.append("nothing to commit")
        else:
            repo.git.commit("-m", message, "--no-verify")
            outcome.sha = repo.head.commit.hexsha
    except git.GitCommandError as exc:
        outcome.failure = "git commit failed: " + _one_line(exc.stderr or str(exc))
        outcome.details = str(exc.stderr or "").strip()
        return outcome
    if push and (outcome.sha or unpushed_commits(repo) != 0):
        _push(repo, outcome)
    return outcome


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
        return int(repo.git.rev_list("--count", f"{upstream.path}..HEAD"))
    except (git.GitCommandError, ValueError):
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
    try:
        repo.git.push(
            remote,
            f"HEAD:refs/heads/{head}",
            env=NO_PROMPT_ENV,
            kill_after_timeout=PUSH_TIMEOUT,
        )
    except git.GitCommandError as exc:
        outcome.failure = (
            f"git push to {remote} failed: {_one_line(exc.stderr or str(exc), hints=False)}; "
            f"the commit is kept locally; push it with: git push {remote} {branch.name}"
        )
        outcome.details = str(exc.stderr or "").strip()
        return
    outcome.pushed_to = f"{remote}/{head}"


def _one_line(text: str, hints: bool = True) -> str:
    """git's message folded into one line, without gitpython's "stderr:" wrapping."""
    lines = (line.strip().removeprefix("stderr:").strip(" '") for line in str(text).splitlines())
    kept = (line for line in lines if line and (hints or not line.startswith("hint:")))
    return " ".join(kept)[:300]


def _inside(path: Path, top: Path) -> bool:
    try:
        path.resolve().relative_to(top.resolve())
    except ValueError:
        return False
    return True


def _relative(path: Path, top: Path) -> str:
    return str(path.resolve().relative_to(top.resolve()))


# -- completed groups from the history -------------------------------------------------

_FIELD = "\x1f"
_RECORD = "\x1e"
_LOG_FORMAT = (
    "%h%x1f%s%x1f%(trailers:key=Roadmap-Phase,valueonly,separator=%x2c)"
    "%x1f%(trailers:key=Roadmap-Groups,valueonly,separator=%x2c)%x1e"
)
_LIST = r"[A-Z]+(?:(?:\s*,\s*and\s+|\s*,\s*|\s*&\s*|\s+and\s+|\s*\+\s*|\s*/\s*)[A-Z]+)*"
#: "Phase 1 Group A", "Phase 2 Groups B & C", "Phase 2 Groups B, C and D" (also "Complete ...")
_GROUPS_SUBJECT = re.compile(
    rf"(?i:completed?\s+)?(?i:phase)\s+(\d+)\s*[,:\-]?\s*(?i:groups?)\s+({_LIST})\b(.*)"
)
#: "Complete Phase 1: Foundation"
_PHASE_SUBJECT = re.compile(r"(?i:completed?\s+phase)\s+(\d+)\b(?!\s*[,:\-]?\s*(?i:groups?)\b)")
#: a task's commit on its worktree branch, or work in progress: no group is complete by it
_NOT_COMPLETE = re.compile(r"\s*[:\-\u2013\u2014]?\s*(?:task\b|wip\b|\(?in progress)", re.I)
_REVERT = re.compile(r'Revert "(.*)"')
_SPLIT = re.compile(r"\s*(?:,|&|\+|/|\band\b|\s)\s*")


@dataclass(frozen=True)
class HistoryCommit:
    """One commit of the scan: short sha, subject, and its Roadmap-* trailers."""

    sha: str
    subject: str
    phase_trailer: str = ""
    groups_trailer: str = ""

    @property
    def source(self) -> str:
        """How a skip reason names this commit: ``commit 1a2b3c4 'Complete Phase 1: X'``."""
        return f"commit {self.sha} '{self.subject}'"


def history(repo_dir: Path, limit: int = HISTORY_LIMIT) -> list[HistoryCommit]:
    """The last ``limit`` commits of the current branch, newest first (subjects and trailers)."""
    repo = open_repo(repo_dir)
    if repo is None or not repo.head.is_valid():
        return []
    try:
        out = repo.git.log(f"-n{limit}", f"--format={_LOG_FORMAT}", "HEAD", "--")
    except git.GitCommandError:
        return []
    commits = []
    for record in out.split(_RECORD):
        fields = record.strip("\n").split(_FIELD)
        if len(fields) == 4:
            commits.append(HistoryCommit(*fields))
    return commits


def groups_of_commit(commit: HistoryCommit, roadmap: Roadmap) -> list[str]:
    """Group keys (``PHASE_1:A``) this commit says are complete.

    Trailers win over the subject: a commit with ``Roadmap-Phase``/``Roadmap-Groups``
    completes exactly the groups listed, so a group added to the phase later still runs.
    """
    phases = {phase.number: phase for phase in roadmap.phases}
    if commit.phase_trailer.strip():
        number = _int(commit.phase_trailer.split(",")[0])
        ids = [g for g in _SPLIT.split(commit.groups_trailer.strip()) if g]
    elif match := _GROUPS_SUBJECT.match(commit.subject):
        if _NOT_COMPLETE.match(match.group(3)):
            return []
        number = _int(match.group(1))
        ids = [g for g in _SPLIT.split(match.group(2)) if g and g.lower() != "and"]
    elif match := _PHASE_SUBJECT.match(commit.subject):
        number = _int(match.group(1))
        phase = phases.get(number) if number is not None else None
        ids = [group.id for group in phase.groups] if phase is not None else []
    else:
        return []
    phase = phases.get(number) if number is not None else None
    if phase is None:
        return []
    known = {group.id for group in phase.groups}
    return [
        group_key(phase, group) for group in phase.groups if group.id in ids and group.id in known
    ]


def completed_in_history(
    repo_dir: Path, roadmap: Roadmap, limit: int = HISTORY_LIMIT
) -> dict[str, str]:
    """Group keys the history says are complete, each with the newest commit saying so.

    A commit that a later ``Revert "<subject>"`` commit reverted says nothing.
    """
    found: dict[str, str] = {}
    reverted: list[str] = []
    for commit in history(repo_dir, limit):
        if commit.subject in reverted:
            reverted.remove(commit.subject)
            continue
        if match := _REVERT.fullmatch(commit.subject):
            reverted.append(match.group(1))
            continue
        for key in groups_of_commit(commit, roadmap):
            found.setdefault(key, commit.source)
    return found


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None
