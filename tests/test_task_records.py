"""Unit tests of pytest_roadmap.model.records: the task records' group index."""

from __future__ import annotations

from typing import Any

from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.records import MemoryCache
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.records import TaskRecords
from pytest_roadmap.model.roadmap import parse_roadmap

from .conftest import TWO_GROUPS


class CountingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str, default: Any) -> Any:
        self.reads.append(key)
        return super().get(key, default)


def test_records_of_groups_that_never_ran_are_not_looked_up() -> None:
    roadmap = parse_roadmap(TWO_GROUPS)
    cache = CountingCache()
    assert TaskRecords(cache, "ROADMAP.md").passed(roadmap) == frozenset()
    assert cache.reads == ["roadmap/tasks/ROADMAP.md/_groups"]  # one read, not one per task


def test_saved_records_are_found_by_a_later_run() -> None:
    roadmap = parse_roadmap(TWO_GROUPS)
    a1 = roadmap.phases[0].groups[0].tasks[0]
    cache = CountingCache()
    TaskRecords(cache, "ROADMAP.md").save(
        "PHASE_1:A:A1", TaskRecord(outcome="passed", digest=task_digest(a1))
    )
    later = TaskRecords(cache, "ROADMAP.md")
    cache.reads.clear()
    assert later.passed(roadmap) == frozenset({"PHASE_1:A:A1"})
    assert later.get("PHASE_2:C:C1") == TaskRecord()
    assert sorted(cache.reads) == [
        "roadmap/tasks/ROADMAP.md/PHASE_1:A:A1",
        "roadmap/tasks/ROADMAP.md/PHASE_1:A:A2",
        "roadmap/tasks/ROADMAP.md/_groups",
    ]
