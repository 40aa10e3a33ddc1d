"""Status files in the bash script's format, and per-task records in pytest's cache.

Only the controller writes. Every write replaces a whole file atomically
(a temporary file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import Protocol

from pytest_roadmap.paths import shown
from pytest_roadmap.plan import Completion
from pytest_roadmap.plan import group_key
from pytest_roadmap.plan import task_key
from pytest_roadmap.roadmap import Group
from pytest_roadmap.roadmap import Phase
from pytest_roadmap.roadmap import Roadmap
from pytest_roadmap.roadmap import Task

ROADMAP_TASKS = "roadmap_tasks.txt"
COMPLETED = "completed_tasks.txt"
IN_PROGRESS = "in_progress_tasks.txt"
PENDING = "pending_tasks.txt"
INTERRUPTED = "interrupted_tasks.txt"
CACHE_KEY = "roadmap/tasks"
SPENT = "_spent_usd"
GROUPS = "_groups"  # the groups with task records: no other task's record is looked up
FILE_MODE = 0o644

_GROUP_KEY = re.compile(r"^PHASE_(\d+):([A-Z]+)$")


class CacheLike(Protocol):
    """The part of ``pytest.Cache`` we use."""

    def get(self, key: str, default: Any) -> Any: ...

    def set(self, key: str, value: object) -> None: ...


class MemoryCache:
    """Stands in for pytest's cache when the cacheprovider plugin is disabled."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.values[key] = value


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that readers never see half a file.

    ``durable`` also syncs it to disk first, so that a power loss leaves the old file or
    the new one; the live progress files skip that, as the next run rewrites them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; status files are for everyone to read
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def status_md_name(phase: Phase, group: Group) -> str:
    """``PHASE1-GROUP-A-STATUS.md``."""
    return f"PHASE{phase.number}-GROUP-{group.id}-STATUS.md"


def task_digest(task: Task) -> str:
    """Changes when the task's title or text in ROADMAP.md changes."""
    return hashlib.sha256(f"{task.title}\0{task.text}".encode()).hexdigest()[:16]


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


class TaskRecords:
    """Per-task results in pytest's cache: one entry per task, ``roadmap/<file>/PHASE_1:A:A1``,
    and the list of groups that have any (``_groups``), so that a run of a large roadmap
    opens the cache files of the groups that ran before, not one file per task."""

    def __init__(self, cache: CacheLike, roadmap_id: str) -> None:
        self.cache = cache
        self.prefix = f"{CACHE_KEY}/{roadmap_id}/"
        self._groups: set[str] | None = None

    def get(self, key: str) -> dict[str, Any]:
        """One task's record, or an empty dict."""
        if _group_of(key) not in self.groups():
            return {}
        record = self.cache.get(self.prefix + key, None)
        return record if isinstance(record, dict) else {}

    def groups(self) -> set[str]:
        """Keys of the groups with task records."""
        if self._groups is None:
            value = self.cache.get(self.prefix + GROUPS, None)
            listed = value if isinstance(value, list) else []
            self._groups = {key for key in listed if isinstance(key, str)}
        return self._groups

    def passed(self, roadmap: Roadmap) -> frozenset[str]:
        """Task keys that passed earlier with the text they have now."""
        keys = []
        for phase, group, task in roadmap.tasks():
            key = task_key(phase, group, task)
            record = self.get(key)
            if record.get("group_complete"):
                continue  # its group completed: rolling the group back runs it again
            if record.get("outcome") == "passed" and record.get("digest") == task_digest(task):
                keys.append(key)
        return frozenset(keys)

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        """Store one task's record (its group joins the index first)."""
        groups = self.groups()
        if _group_of(key) not in groups:
            groups.add(_group_of(key))
            self.cache.set(self.prefix + GROUPS, sorted(groups))
        self.cache.set(self.prefix + key, dict(record))

    def spent(self) -> float:
        """USD the roadmap's agents have cost over all runs."""
        value = self.cache.get(self.prefix + SPENT, 0.0)
        return float(value) if isinstance(value, (int, float)) else 0.0

    def add_spent(self, usd: float) -> float:
        """Add an agent's cost to the roadmap's total; return the new total."""
        total = self.spent() + usd
        self.cache.set(self.prefix + SPENT, total)
        return total


def _group_of(key: str) -> str:
    """``PHASE_1:A`` for the task key ``PHASE_1:A:A1``."""
    return key.rpartition(":")[0]


def load_completion(
    roadmap: Roadmap,
    status: StatusFiles,
    records: TaskRecords | None,
    redo: bool,
    history: Mapping[str, str] | None = None,
) -> Completion:
    """What earlier runs completed, unless ``redo``.

    ``history`` holds the groups that commits say are complete (see
    :func:`pytest_roadmap.gitops.completed_in_history`); status files name the source
    of a group both know.
    """
    if redo:
        return Completion()
    return Completion(
        groups={**(history or {}), **status.completed_groups(roadmap)},
        tasks=records.passed(roadmap) if records is not None else frozenset(),
    )
