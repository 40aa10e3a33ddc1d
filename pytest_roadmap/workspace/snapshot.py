"""Snapshots of the shared tree: commits on hidden refs that touch nothing else.

A snapshot is the working tree (untracked files too, .gitignore'd ones not) written as a
commit on ``refs/roadmap/snapshots/<run>/<n>-<label>`` through a temporary index
(``GIT_INDEX_FILE``, ``git add``, ``write-tree``, ``commit-tree``): HEAD, the branch, the
index and the working tree stay as they were. The commit's parent is HEAD at the time.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.workspace.git import open_repo
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.phase_commit import stage_pathspec

REF_ROOT = "refs/roadmap/snapshots"
#: git's empty tree: the base of a repository without a commit
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
NULL_SHA = "0" * 40
CHANGES_KEPT = 16  # tree pairs whose changes a run remembers
#: snapshot commits need no user identity
IDENTITY = {
    "GIT_AUTHOR_NAME": "pytest-roadmap",
    "GIT_AUTHOR_EMAIL": "pytest-roadmap@localhost",
    "GIT_COMMITTER_NAME": "pytest-roadmap",
    "GIT_COMMITTER_EMAIL": "pytest-roadmap@localhost",
}


@dataclass(frozen=True)
class Snapshot:
    """One recorded tree, and where HEAD and the branch were when it was taken."""

    ref: str
    commit: str
    tree: str
    #: HEAD's commit (None before the first commit)
    head: str | None
    #: the branch HEAD pointed to (``refs/heads/main``), None when detached
    branch: str | None


@dataclass(frozen=True)
class Change:
    """A path that differs between two trees: its blob on each side (None: absent)."""

    path: str
    old: str | None
    new: str | None


def run_id(now: float | None = None) -> str:
    """A run's name among the snapshots: sortable by time, unique per process."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{os.getpid()}"


def git_dir(top: Path) -> Path:
    """The git directory of the working tree at ``top``."""
    return Path(run_git(top, "rev-parse", "--absolute-git-dir"))


class Snapshots:
    """The snapshots of one run of the working tree at ``top``."""

    def __init__(self, top: Path, run: str, exclude: Sequence[Path] = ()) -> None:
        self.top = top
        self.run = run
        self.exclude = list(exclude)
        self.count = 0
        self.git_dir = git_dir(top)
        #: our own index: kept between snapshots, git rehashes only what changed
        self.index = self.git_dir / f"roadmap-snapshot-{run}.index"
        self._excluded: tuple[tuple[Path, ...], list[str]] | None = None
        self.last: Snapshot | None = None
        self._changes: dict[tuple[str, str], dict[str, Change]] = {}
        repo = open_repo(top)
        assert repo is not None
        self.repo = repo

    def take(self, label: str) -> Snapshot:
        """Record the working tree now, as snapshot number n with ``label``; the last
        snapshot again when the tree, HEAD and the branch are as it found them."""
        env = {"GIT_INDEX_FILE": str(self.index)}
        real = self.git_dir / "index"
        if not self.index.exists() and real.exists():
            shutil.copyfile(real, self.index)  # its stat data: no file is hashed again
        added = run_git(self.top, "add", "--all", "--verbose", "--", *self._pathspec(), env=env)
        last = self.last
        # git add names each path it staged or removed: none, the tree is the last one's
        unchanged = last is not None and not added.strip()
        tree = last.tree if unchanged and last else run_git(self.top, "write-tree", env=env)
        head, branch = self._head()
        if last is not None and (last.tree, last.head, last.branch) == (
            tree,
            head or None,
            branch or None,
        ):
            return last
        self.count += 1
        message = f"roadmap snapshot {self.run} #{self.count}: {label}"
        parents = ["-p", head] if head else []
        commit = run_git(self.top, "commit-tree", tree, *parents, "-m", message, env=IDENTITY)
        ref = f"{REF_ROOT}/{self.run}/{self.count}-{_slug(label)}"
        run_git(self.top, "update-ref", ref, commit)
        self.last = Snapshot(ref, commit, tree, head or None, branch or None)
        return self.last

    def changes(self, old: str, new: str) -> dict[str, Change]:
        """:func:`changes` between two trees, remembered (trees do not change)."""
        key = (old, new)
        if key not in self._changes:
            if len(self._changes) > CHANGES_KEPT:
                self._changes.clear()
            self._changes[key] = changes(self.top, old, new)
        return self._changes[key]

    def _pathspec(self) -> list[str]:
        """What ``git add`` stages: all but the excluded paths (asked again when those
        that exist change)."""
        existing = tuple(path for path in self.exclude if path.exists())
        if self._excluded is None or self._excluded[0] != existing:
            self._excluded = (existing, stage_pathspec(self.top, existing))
        return self._excluded[1]

    def _head(self) -> tuple[str, str]:
        """HEAD's commit and the branch it points to ("" for none), read without git."""
        repo = self.repo
        head = repo.head.commit.hexsha if repo.head.is_valid() else ""
        branch = "" if repo.head.is_detached else repo.head.reference.path
        return head, branch

    def blob(self, sha: str | None) -> bytes | None:
        """A blob's bytes (None for None)."""
        if sha is None:
            return None
        scratch = self.git_dir / "roadmap-unpack"
        scratch.mkdir(exist_ok=True)
        name = run_git(scratch, "unpack-file", sha, env={"GIT_DIR": str(self.git_dir)})
        path = scratch / name
        try:
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    def checkout(self, commit: str, paths: Sequence[str]) -> None:
        """Write ``paths`` as ``commit`` has them into the working tree; the index stays."""
        if not paths:
            return
        index = self.git_dir / f"roadmap-restore-{self.run}.index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            run_git(self.top, "--literal-pathspecs", "checkout", commit, "--", *paths, env=env)
        finally:
            index.unlink(missing_ok=True)

    def close(self) -> None:
        """Remove the run's temporary index (its snapshots stay)."""
        self.index.unlink(missing_ok=True)


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "step"


def prune(top: Path, keep: str) -> int:
    """Delete the snapshots of every run but ``keep`` and the newest one before it.

    Returns how many refs were deleted.
    """
    refs = run_git(top, "for-each-ref", "--format=%(refname)", REF_ROOT).splitlines()
    runs = sorted({_run_of(ref) for ref in refs} - {keep})
    kept = {keep, *runs[-1:]}
    doomed = [ref for ref in refs if _run_of(ref) not in kept]
    if doomed:
        script = "".join(f"delete {ref}\n" for ref in doomed)
        run_git(top, "update-ref", "--stdin", stdin=script.encode())
    for index in git_dir(top).glob("roadmap-snapshot-*.index"):
        if index.name != f"roadmap-snapshot-{keep}.index":
            index.unlink(missing_ok=True)
    return len(doomed)


def _run_of(ref: str) -> str:
    return ref[len(REF_ROOT) + 1 :].split("/", 1)[0]


def head_tree(top: Path) -> str:
    """HEAD's tree, or the empty tree before the first commit."""
    tree = run_git(top, "rev-parse", "-q", "--verify", "HEAD^{tree}", check=False)
    return tree or EMPTY_TREE


def changes(top: Path, old: str, new: str) -> dict[str, Change]:
    """The paths whose content or mode differs from tree ``old`` to tree ``new``."""
    out = run_git(top, "diff-tree", "-r", "-z", "--no-renames", old, new)
    fields = out.split("\0")
    found: dict[str, Change] = {}
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split()
        if len(parts) < 4:
            continue
        before, after = parts[2], parts[3]
        found[path] = Change(
            path, None if before == NULL_SHA else before, None if after == NULL_SHA else after
        )
    return found
