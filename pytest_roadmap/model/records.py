"""Per-task records of earlier runs, kept in pytest's cache (written by the controller only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Protocol

from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.roadmap import Roadmap

CACHE_KEY = "roadmap/tasks"


SPENT = "_spent_usd"


GROUPS = "_groups"  # the groups with task records: no other task's record is looked up


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
