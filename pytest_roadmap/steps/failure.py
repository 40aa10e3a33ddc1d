"""How a step fails: one line of reason, then the details the report shows under it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from typing import TypeVar

from pytest_roadmap.paths import shown
from pytest_roadmap.workspace.git import WorkspaceError

__all__ = ["RoadmapFailure", "failure_details", "isolated"]

_T = TypeVar("_T")


class RoadmapFailure(Exception):
    """A task, gate or commit failed; ``reason`` is one line, ``details`` follow it."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def describe(self) -> str:
        """The failure as the report shows it: the reason first, then the details."""
        return f"{self.reason}\n{self.details}".rstrip()


def failure_details(log: Path | None, project_dir: Path, tail: str) -> str:
    """``log: <path>`` and the last lines of the log."""
    lines = []
    if log is not None:
        lines.append(f"log: {shown(log, project_dir)}")
    if tail.strip():
        lines += ["--- last lines of the log ---", tail.rstrip()]
    return "\n".join(lines)


def isolated(action: Callable[..., _T], *args: Any) -> _T:
    """Call a worktree, clone or git action; its errors fail the step with their reason."""
    try:
        return action(*args)
    except WorkspaceError as exc:
        raise RoadmapFailure(exc.reason, exc.details) from None
