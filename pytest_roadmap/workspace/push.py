"""A phase's push upstream: retried, rebased onto a remote that moved, never forced.

A push that fails is tried again, :data:`TRIES` times in all, waiting :data:`BACKOFF`
seconds, then twice that. A push rejected because the remote moved (non-fast-forward) is
rebased onto the remote's branch when that rebase is clean (``--autostash``), then pushed;
a rebase that conflicts is aborted and the push given up, the local commits kept as they
were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git

TRIES = 3
BACKOFF = 2.0  # seconds before the second try; doubled before each later one
#: what git says when the remote has commits we lack
MOVED = ("(fetch first)", "(non-fast-forward)")


@dataclass
class Pushed:
    """How the push went: ``failure`` (one line) and ``details`` when it did not."""

    failure: str | None = None
    details: str = ""
    #: the remote had moved: our commits were rebased onto it first
    rebased: bool = False
    tries: int = 0


def push(
    top: Path, remote: str, branch: str, head: str, sleep: Callable[[float], None] = time.sleep
) -> Pushed:
    """Push HEAD to ``remote``'s ``head`` branch (local ``branch``), as the module says."""
    done = Pushed()
    error: WorkspaceError | None = None
    for attempt in range(TRIES):
        if attempt:
            sleep(BACKOFF * 2 ** (attempt - 1))
        done.tries = attempt + 1
        try:
            run_git(top, "push", remote, f"HEAD:refs/heads/{head}")
            return done
        except WorkspaceError as exc:
            error = exc
        if any(word in error.reason for word in MOVED):
            conflict = _rebase(top, remote, head)
            if conflict is not None:
                done.failure = (
                    f"git push to {remote} failed: {remote}/{head} moved and our commits "
                    f"conflict with its own ({conflict}); nothing was forced, the commits "
                    f"are kept locally; push it with: git pull --rebase {remote} {head} "
                    f"(resolve the conflicts), then git push {remote} {branch}"
                )
                return done
            done.rebased = True
    assert error is not None
    done.failure = (
        f"git push to {remote} failed after {TRIES} tries: {error.reason}; the commit is kept "
        f"locally; push it with: git push {remote} {branch}"
    )
    done.details = error.details
    return done


def _rebase(top: Path, remote: str, head: str) -> str | None:
    """Rebase onto the remote's branch; None when clean, else why not (aborted)."""
    try:
        run_git(top, "fetch", "-q", remote, head)
        run_git(top, "rebase", "-q", "--autostash", "FETCH_HEAD")
    except WorkspaceError as exc:
        run_git(top, "rebase", "--abort", check=False)
        return exc.reason
    return None
