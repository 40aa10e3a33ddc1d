"""HEAD and the branch of the shared tree, moved by an agent, and put back.

- An agent's own commits on the run's branch keep their content: :func:`fold` moves the
  branch back to where the phase began (``reset --soft``), so that the phase commit holds
  them, one commit per phase.
- A switch to another branch (or a detached HEAD), or a reset of the branch to a commit
  that is not ahead of where it was, is undone (:func:`undo`): the branch is where it was,
  the index is HEAD's, and each path the move changed, and that still is as the move left
  it, is as the last snapshot had it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git
from pytest_roadmap.workspace.snapshot import EMPTY_TREE
from pytest_roadmap.workspace.snapshot import Snapshot
from pytest_roadmap.workspace.snapshot import Snapshots
from pytest_roadmap.workspace.snapshot import changes


@dataclass(frozen=True)
class Moved:
    """How HEAD moved: ``kind`` is "committed", "switched" or "reset"; ``text`` says it."""

    kind: str
    text: str


def short(branch: str | None) -> str:
    """``main`` for ``refs/heads/main``; ``a detached HEAD`` for None."""
    return branch.removeprefix("refs/heads/") if branch else "a detached HEAD"


def moved(snaps: Snapshots, head: str | None, branch: str | None, now: Snapshot) -> Moved | None:
    """How HEAD moved from ``head`` on ``branch`` to where ``now`` found it; None: it did not."""
    if branch is not None and now.branch != branch:
        return Moved("switched", f"switched to {short(now.branch)}")
    if head is None or now.head == head:
        return None
    if now.head is not None and _is_ancestor(snaps, head, now.head):
        count = run_git(snaps.top, "rev-list", "--count", f"{head}..{now.head}")
        commits = f"{count} commit{'s' * (count != '1')}"
        return Moved("committed", f"committed {commits} on {short(branch)}")
    return Moved("reset", f"reset {short(branch)} to {(now.head or 'nothing')[:12]}")


def undo(snaps: Snapshots, head: str | None, branch: str | None, last: Snapshot) -> None:
    """Put the branch (and HEAD on it) back to ``head``; the paths the move changed back
    as ``last`` had them."""
    top = snaps.top
    moved_from = _tree(snaps, "HEAD")
    if branch is not None:
        run_git(top, "symbolic-ref", "HEAD", branch)
    if head is not None and branch is not None:
        run_git(top, "update-ref", branch, head)
    elif head is not None:
        run_git(top, "update-ref", "--no-deref", "HEAD", head)
    run_git(top, "reset", "-q")  # the index as HEAD has it
    by_move = changes(top, moved_from, _tree(snaps, "HEAD"))
    current = snaps.take("moved")
    still = changes(top, moved_from, current.tree)
    left = [path for path in by_move if path not in still]  # as the move left them
    back = changes(top, current.tree, last.tree)
    present = [path for path in left if path in back and back[path].new is not None]
    for path in left:
        if path in back and back[path].new is None:
            (top / path).unlink(missing_ok=True)
    snaps.checkout(last.commit, present)


def fold(snaps: Snapshots, head: str) -> None:
    """Move the branch back to ``head``, keeping the index and tree (the agents' commits
    become part of what the phase commit stages)."""
    run_git(snaps.top, "reset", "-q", "--soft", head)


def _tree(snaps: Snapshots, rev: str) -> str:
    tree = run_git(snaps.top, "rev-parse", "-q", "--verify", f"{rev}^{{tree}}", check=False)
    return tree or EMPTY_TREE


def _is_ancestor(snaps: Snapshots, older: str, newer: str) -> bool:
    try:
        run_git(snaps.top, "merge-base", "--is-ancestor", older, newer)
    except WorkspaceError:
        return False
    return True
