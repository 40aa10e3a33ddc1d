"""The roadmap is the user's: the run keeps its bytes as they were when it started, and
puts them back when an agent changed the file; the agent's version is kept beside the
status files, named by the tasks that were running (``status/ROADMAP.from-A1.md``).

A tick an agent wrote thus never counts as done, in this run or a later one, and never
reaches a phase commit. Edits the user makes between runs stay: each run starts from
the file as it finds it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import RoadmapError
from pytest_roadmap.model.roadmap import parse_roadmap
from pytest_roadmap.paths import shown

__all__ = ["RoadmapGuard", "blame", "describe_change"]


class RoadmapGuard:
    """The roadmap's bytes at the start of the run, and the check that puts them back."""

    def __init__(self, path: Path, status_dir: Path, project_dir: Path) -> None:
        self.path = path
        self.status_dir = status_dir
        self.project_dir = project_dir
        self.original = path.read_bytes()

    def check(self, names: Sequence[str], who: str) -> str | None:
        """Put the roadmap back if it changed; the line that says so, or None.

        ``names`` name the agents' version (``ROADMAP.from-A1-A2.md``); ``who`` is the
        subject of the line (``A1's agent``). Raises OSError when it cannot write.
        """
        try:
            now: bytes | None = self.path.read_bytes()
        except FileNotFoundError:
            now = None
        if now == self.original:
            return None
        where = "it was deleted"
        if now is not None:
            kept = self.status_dir / f"{self.path.stem}.from-{'-'.join(names)}{self.path.suffix}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_bytes(now)
            where = f"its version is in {shown(kept, self.project_dir)}"
        self.put_back()
        what = describe_change(self.original, now, self.path.name)
        return f"{who} changed {self.path.name} ({what}): put back; {where}"

    def put_back(self) -> None:
        """Write the original bytes back (through a temporary file and a rename)."""
        temporary = self.path.with_name(f".{self.path.name}.roadmap-put-back")
        temporary.write_bytes(self.original)
        os.replace(temporary, self.path)


def describe_change(before: bytes, after: bytes | None, name: str) -> str:
    """``marked B1 done``, ``changed 3 lines``, ``deleted it``: what an edit did, briefly."""
    if after is None:
        return "deleted it"
    ticked = sorted(_done(after, name) - _done(before, name))
    old, new = before.decode(errors="replace"), after.decode(errors="replace")
    diff = list(difflib.ndiff(old.splitlines(), new.splitlines()))
    changed = max(
        sum(line.startswith("- ") for line in diff), sum(line.startswith("+ ") for line in diff)
    )
    others = changed - len(ticked)
    parts = [f"marked {', '.join(ticked)} done"] if ticked else []
    if others > 0:
        more = " more" if ticked else ""
        parts.append(f"changed {others}{more} line{'s' * (others != 1)}")
    if not parts:
        parts.append("changed its bytes")
    return " and ".join(parts)


def _done(data: bytes, name: str) -> set[str]:
    """The ids of the tasks the roadmap ``data`` marks done (none when it does not parse)."""
    try:
        roadmap: Roadmap = parse_roadmap(data.decode("utf-8"), name)
    except (RoadmapError, UnicodeDecodeError):
        return set()
    return {task.id for _phase, _group, task in roadmap.tasks() if task.done}


def blame(step: Step | None, running: Sequence[Step]) -> tuple[list[str], str]:
    """Who changed the roadmap: the names of the agents' version and the line's subject.

    After a task: the tasks that were running (``A1``, ``A1-A2``); after a gate: its
    repair agents or the task branches it merged (``gate-1A``).
    """
    if step is not None and step.kind == "gate" and step.group is not None:
        return [f"gate-{step.phase.number}{step.group.id}"], f"an agent of the {step.label}"
    ids = [s.task.id for s in running if s.task is not None]
    if step is not None and step.task is not None and step.task.id not in ids:
        ids.append(step.task.id)
    if not ids:
        return ["agents"], "an agent"
    if len(ids) == 1:
        return ids, f"{ids[0]}'s agent"
    return ids, f"one of the agents of {', '.join(ids)}"
