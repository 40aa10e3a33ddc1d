"""Status files in the bash script's format, and what earlier runs completed.

Only the controller writes. Every write replaces a whole file atomically
(a temporary file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

from pytest_roadmap.model.plan import Completion
from pytest_roadmap.model.plan import group_key
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecords
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.paths import atomic_write
from pytest_roadmap.paths import shown

ROADMAP_TASKS = "roadmap_tasks.txt"
COMPLETED = "completed_tasks.txt"
IN_PROGRESS = "in_progress_tasks.txt"
PENDING = "pending_tasks.txt"
INTERRUPTED = "interrupted_tasks.txt"


def status_md_name(phase: Phase, group: Group) -> str:
    """``PHASE1-GROUP-A-STATUS.md``."""
    return f"PHASE{phase.number}-GROUP-{group.id}-STATUS.md"


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


class StatusFiles:
    """status/*.txt and PHASE*-GROUP-*-STATUS.md of one project."""

    def __init__(self, status_dir: Path, project_dir: Path) -> None:
        self.status_dir = status_dir
        self.project_dir = project_dir

    def unknown_completed(self, roadmap: Roadmap) -> str | None:
        """One warning for the completed_tasks.txt lines that name no phase, group or task
        of ``roadmap`` (they are ignored), or None."""
        known = {f"PHASE_{phase.number}" for phase in roadmap.phases}
        for phase, group, task in roadmap.tasks():
            known |= {group_key(phase, group), task_key(phase, group, task)}
        known |= {group_key(phase, group) for phase in roadmap.phases for group in phase.groups}
        lines = [line.strip() for line in _lines(self.status_dir / COMPLETED)]
        unknown = [line for line in lines if line and line not in known]
        if not unknown:
            return None
        where = shown(self.status_dir / COMPLETED, self.project_dir)
        count = len(unknown)
        names = ", ".join(repr(line) for line in unknown[:5]) + (", ..." if count > 5 else "")
        return (
            f"{where}: {count} line{'s' * (count != 1)} name{'s' * (count == 1)} no phase, "
            f"group or task of {Path(roadmap.path).name}, ignored: {names}"
        )

    def completed_groups(self, roadmap: Roadmap) -> dict[str, str]:
        """Group keys recorded as complete, each with the file that says so."""
        listed = {line.strip() for line in _lines(self.status_dir / COMPLETED)}
        where = shown(self.status_dir / COMPLETED, self.project_dir)
        found: dict[str, str] = {}
        for phase in roadmap.phases:
            for group in phase.groups:
                key = group_key(phase, group)
                if key in listed:
                    found[key] = where
                elif (self.project_dir / status_md_name(phase, group)).exists():
                    found[key] = status_md_name(phase, group)
        return found

    def write_plan(self, roadmap: Roadmap) -> None:
        """status/roadmap_tasks.txt: one ``PHASE_1:A:A1:Title`` line per task."""
        lines = [
            f"{task_key(phase, group, task)}:{task.title}" for phase, group, task in roadmap.tasks()
        ]
        atomic_write(self.status_dir / ROADMAP_TASKS, _join(lines))

    def write_pending(self, pending: Iterable[str]) -> None:
        """status/pending_tasks.txt: the tasks not finished yet."""
        atomic_write(self.status_dir / PENDING, _join(pending), durable=False)

    def write_in_progress(self, in_progress: Iterable[str]) -> None:
        """status/in_progress_tasks.txt: what is running now."""
        atomic_write(self.status_dir / IN_PROGRESS, _join(in_progress), durable=False)

    def write_interrupted(self, steps: Iterable[str]) -> None:
        """status/interrupted_tasks.txt: what an interrupted run was running; removed if none."""
        lines = list(steps)
        if lines:
            atomic_write(self.status_dir / INTERRUPTED, _join(lines))
        else:
            (self.status_dir / INTERRUPTED).unlink(missing_ok=True)

    def mark_complete(self, phase: Phase, group: Group, status_md: str) -> None:
        """Append ``PHASE_1:A`` to completed_tasks.txt and write the STATUS file."""
        atomic_write(self.project_dir / status_md_name(phase, group), status_md)
        lines = _lines(self.status_dir / COMPLETED)
        key = group_key(phase, group)
        if key not in (line.strip() for line in lines):
            atomic_write(self.status_dir / COMPLETED, _join([*lines, key]))


def _join(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    return text + "\n" if text else ""


def load_completion(
    roadmap: Roadmap,
    status: StatusFiles,
    records: TaskRecords | None,
    redo: bool,
    history: Mapping[str, str] | None = None,
) -> Completion:
    """What earlier runs completed, unless ``redo``.

    ``history`` holds the groups that commits say are complete (see
    :func:`pytest_roadmap.workspace.history.completed_in_history`); status files name the source
    of a group both know.
    """
    if redo:
        return Completion()
    return Completion(
        groups={**(history or {}), **status.completed_groups(roadmap)},
        tasks=records.passed(roadmap) if records is not None else frozenset(),
    )
