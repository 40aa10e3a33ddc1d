"""Which files a task changed in the shared tree: the tree's changed files before its agent
and after it, compared by size and modification time.

Tasks of a group run at the same time in the shared tree, so a task's list may hold a
neighbour's files too: it names suspects, not culprits. No pytest here.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git

__all__ = ["Stamps", "changed_since", "stamps"]

#: changed path (relative to the repository's top) -> (size, mtime in ns), or None if gone
Stamps = dict[str, tuple[int, int] | None]


def stamps(cwd: Path) -> Stamps:
    """The changed and untracked files of the tree at ``cwd``, each with its stamp."""
    try:
        top = _top(cwd)
        status = run_git(top, "status", "--porcelain", "--untracked-files=all")
    except WorkspaceError:
        return {}
    found: Stamps = {}
    for line in status.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        try:
            info = (top / path).stat()
            found[path] = (info.st_size, info.st_mtime_ns)
        except OSError:
            found[path] = None
    return found


@functools.lru_cache(maxsize=64)
def _top(cwd: Path) -> Path:
    """The repository's top directory (asked once per directory and process)."""
    return Path(run_git(cwd, "rev-parse", "--show-toplevel"))


def changed_since(before: Stamps, cwd: Path) -> list[str]:
    """The files whose change began or moved on since ``before`` was taken."""
    after = stamps(cwd)
    return sorted(
        path for path in after.keys() | before.keys() if after.get(path) != before.get(path)
    )
