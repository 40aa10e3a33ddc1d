"""The project's tests as they were before a group: which files are tests (the test
runners' conventions, gitignore-style, plus the test paths setting), their blobs at the
group's start (kept under a hidden ref, ``refs/roadmap/tests/phase1-groupA``), and what
agents did to them since: deleted, skipped, changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pathspec

from pytest_roadmap.workspace.git import run_git

__all__ = [
    "CONVENTIONS",
    "SKIPS",
    "Baseline",
    "TestChanges",
    "changes",
    "clear_baselines",
    "record_baseline",
    "restore",
    "state",
]

REF_PREFIX = "refs/roadmap/tests/"

#: where test runners look for tests (gitignore-style patterns)
CONVENTIONS = (
    "test/",
    "tests/",
    "__tests__/",
    "spec/",
    "*.test.*",
    "*.spec.*",
    "test_*.py",
    "*_test.py",
    "*_test.go",
    "*_spec.rb",
    "*Test.java",
    "*Tests.java",
    "*Test.kt",
    "*Tests.cs",
)

#: what skips a test, per language (by file suffix); an added one is a refusal
SKIPS: dict[str, tuple[str, ...]] = {
    "js": (".skip(", "xit(", "xdescribe(", "xtest(", "it.only(", "describe.only(", "test.only("),
    "py": (
        "@pytest.mark.skip",
        "pytest.skip(",
        "@unittest.skip",
        ".skipTest(",
        "pytest.mark.xfail",
    ),
    "go": ("t.Skip(", "t.Skipf(", "t.SkipNow("),
    "rb": ("xit ", "skip ", "pending "),
    "java": ("@Disabled", "@Ignore"),
    "rs": ("#[ignore]",),
    "cs": ("[Ignore", "Skip ="),
}
LANGUAGES = {
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"), "js"),
    ".py": "py",
    ".go": "go",
    ".rb": "rb",
    ".java": "java",
    ".kt": "java",
    ".rs": "rs",
    ".cs": "cs",
}


def patterns(test_paths: Sequence[str]) -> list[str]:
    """The conventions plus ``test_paths``; only ``test_paths`` when its first line is
    ``replace``."""
    if test_paths and test_paths[0].strip() == "replace":
        return list(test_paths[1:])
    return [*CONVENTIONS, *test_paths]


@dataclass(frozen=True)
class Baseline:
    """A group's test files at its start: path (relative to the project) -> blob id, and
    the commit they are from."""

    commit: str
    files: Mapping[str, str]


def ref_name(phase: int, group: str) -> str:
    return f"{REF_PREFIX}phase{phase}-group{group}"


def clear_baselines(project_dir: Path) -> None:
    """Forget the groups' baselines of earlier runs (each run records its own)."""
    refs = run_git(project_dir, "for-each-ref", "--format=%(refname)", REF_PREFIX, check=False)
    for ref in refs.split():
        run_git(project_dir, "update-ref", "-d", ref, check=False)


def record_baseline(
    project_dir: Path, phase: int, group: str, test_paths: Sequence[str]
) -> Baseline | None:
    """The group's baseline: made from the last commit by the first step of the group that
    asks, read back by the others; None without a commit."""
    ref = ref_name(phase, group)
    run_git(project_dir, "update-ref", ref, "HEAD", "", check=False)  # only if not there
    commit = ""
    for name in (ref, "HEAD"):  # HEAD: another step holds the ref's lock at this moment
        commit = run_git(
            project_dir, "rev-parse", "-q", "--verify", f"{name}^{{commit}}", check=False
        )
        if commit:
            break
    if not commit:
        return None  # no commit yet
    listing = run_git(project_dir, "ls-tree", "-r", "-z", commit)
    spec = pathspec.GitIgnoreSpec.from_lines(patterns(test_paths))
    files = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        kind_and_id = meta.split()
        if len(kind_and_id) == 3 and kind_and_id[1] == "blob" and spec.match_file(path):
            files[path] = kind_and_id[2]
    return Baseline(commit, files)


def blob_id(data: bytes) -> str:
    """git's id of a blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324


def state(cwd: Path, baseline: Baseline) -> dict[str, str | None]:
    """The blob id of each baseline file in ``cwd`` now (None: deleted)."""
    now: dict[str, str | None] = {}
    for path in baseline.files:
        try:
            now[path] = blob_id((cwd / path).read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            now[path] = None
    return now


@dataclass
class TestChanges:
    """What happened to the baseline's files between two states."""

    deleted: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # path, the skip added
    changed: list[str] = field(default_factory=list)  # changed, neither deleted nor skipped

    @property
    def refused(self) -> list[str]:
        """The files that must be restored."""
        return [*self.deleted, *(path for path, _ in self.skipped)]

    def reason(self, who: str = "") -> str:
        """What an agent is told (no ``who``), or what a refusal says: one line."""
        subject = who or "you"
        parts = [f"deleted {path}" for path in self.deleted]
        parts += [f"added a skip ({skip.strip()}) to {path}" for path, skip in self.skipped]
        which = "which" if len(parts) == 1 else "files that"
        said = f"{subject} {', '.join(parts)}, {which} existed before this group"
        if who:
            return said
        return f"{said}: restore {'it' if len(parts) == 1 else 'them'} and fix the code instead"


def changes(
    cwd: Path, baseline: Baseline, before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> TestChanges:
    """What changed from ``before`` to ``after`` in the baseline's files."""
    found = TestChanges()
    for path, original in baseline.files.items():
        if before.get(path) == after.get(path) or after.get(path) == original:
            continue
        if after.get(path) is None:
            found.deleted.append(path)
            continue
        skip = added_skip(cwd, baseline, path)
        if skip is not None:
            found.skipped.append((path, skip))
        else:
            found.changed.append(path)
    return found


def added_skip(cwd: Path, baseline: Baseline, path: str) -> str | None:
    """A skip that ``path`` has more of now than in the baseline, or None."""
    markers = SKIPS.get(LANGUAGES.get(Path(path).suffix, ""), ())
    if not markers:
        return None
    old = run_git(cwd, "cat-file", "blob", baseline.files[path], check=False)
    new = (cwd / path).read_text(encoding="utf-8", errors="replace")
    return next((m for m in markers if new.count(m) > old.count(m)), None)


def restore(cwd: Path, baseline: Baseline, paths: Sequence[str]) -> None:
    """Put ``paths`` back as the baseline has them (the work tree only)."""
    if paths:
        run_git(cwd, "restore", f"--source={baseline.commit}", "--worktree", "--", *paths)
