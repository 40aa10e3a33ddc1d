"""What the history says is complete: commits naming a phase or its groups, newest first.

A run skips groups that a commit says are complete (``Complete Phase 1: X``, ``Phase 2
Groups B & C``, or the ``Roadmap-Phase``/``Roadmap-Groups`` trailers the phase commit
writes), unless a later ``Revert "<subject>"`` undid that commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.model.plan import group_key
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git

#: how far back the history scan for completed groups looks
HISTORY_LIMIT = 1000

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
    try:  # fails outside a repository, and before its first commit
        out = run_git(repo_dir, "log", f"-n{limit}", f"--format={_LOG_FORMAT}", "HEAD", "--")
    except WorkspaceError:
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


#: seconds the scan of the whole history for phase commits (the status view) may take
PHASE_LOG_TIMEOUT = 30.0

_PHASE_TRAILER = re.compile(r"^Roadmap-Phase:\s*(\d+)\s*$", re.MULTILINE)


def phase_commits(project_dir: Path) -> dict[int, str]:
    """The newest commit of each phase (``Roadmap-Phase: N`` trailer), short hashes."""
    try:
        out = run_git(project_dir, "log", "--format=%h%x00%B%x01", timeout=PHASE_LOG_TIMEOUT)
    except WorkspaceError:
        return {}
    commits: dict[int, str] = {}
    for entry in out.split("\x01"):
        sha, _, body = entry.strip().partition("\x00")
        for number in _PHASE_TRAILER.findall(body):
            commits.setdefault(int(number), sha)
    return commits
