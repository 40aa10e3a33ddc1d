"""Which merge made a command fail: a bisection over a group's merge commits, in a scratch
worktree, running only the failing command (1 + log2(n) runs for n merges).

No pytest here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.paths import relative_to
from pytest_roadmap.workspace.git import run_git

__all__ = ["Merge", "first_failing"]

NODE_MODULES = "node_modules"


@dataclass(frozen=True)
class Merge:
    """One task branch merged: the task's id and the merge commit."""

    task_id: str
    commit: str


def first_failing(
    project_dir: Path,
    top: Path,
    merges: Sequence[Merge],
    passes: Callable[[Path], bool],
    scratch: Path,
) -> tuple[Merge | None, int]:
    """The merge after which ``passes`` (called with the project's directory in the scratch
    worktree) first fails, and how many runs it took; None when it fails before the first
    merge too. The last merge is taken as failing (the caller saw it fail)."""
    if not merges:
        return None, 0
    base = run_git(top, "rev-parse", f"{merges[0].commit}^1")
    run_git(top, "worktree", "add", "--detach", "-f", str(scratch), base)
    inner = scratch / relative_to(project_dir, top)
    runs = 0

    def fails(commit: str) -> bool:
        nonlocal runs
        runs += 1
        run_git(scratch, "checkout", "--detach", "-q", "-f", commit)
        run_git(scratch, "clean", "-fdq")
        _link_node_modules(project_dir, inner)
        return not passes(inner)

    try:
        if fails(base):
            return None, runs
        low, high = 0, len(merges) - 1
        while low < high:
            middle = (low + high) // 2
            if fails(merges[middle].commit):
                high = middle
            else:
                low = middle + 1
        return merges[low], runs
    finally:
        run_git(top, "worktree", "remove", "--force", str(scratch), check=False)


def _link_node_modules(project_dir: Path, cwd: Path) -> None:
    """The main tree's node_modules, as a new task worktree gets them."""
    source, link = project_dir / NODE_MODULES, cwd / NODE_MODULES
    if source.is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(source.resolve(), target_is_directory=True)
