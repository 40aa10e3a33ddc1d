"""Per-task records of earlier runs, kept in pytest's cache (written by the controller only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timezone
from typing import Any
from typing import Protocol

from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.roadmap import Roadmap

CACHE_KEY = "roadmap/tasks"
SPENT = "_spent_usd"
GROUPS = "_groups"  # the groups with task records: no other task's record is looked up


@dataclass(frozen=True)
class TaskRecord:
    """What a task's last run left: its outcome, against which text, and its agent's facts.

    Stored as a flat JSON object; anything missing or of the wrong type reads as unknown.
    """

    outcome: str | None = None  # "passed", "failed" or "interrupted"
    digest: str | None = None  # of the task's text when it ran (see task_digest)
    finished: str | None = None  # ISO time, UTC
    session_id: str | None = None
    failure: str | None = None
    limit_type: str | None = None  # the usage limit that stopped it, when one did
    log: str | None = None
    result: str | None = None
    duration_s: float | None = None
    cost_usd: float | None = None
    num_turns: int | None = None
    #: its group completed afterwards: rolling the group back runs the task again
    group_complete: bool = False
    model: str | None = None  # the model its agent was asked to use

    @classmethod
    def of(cls, outcome: str, digest: str, facts: StepFacts) -> TaskRecord:
        """The record of a run that just ended, from the task's facts."""
        agent = facts.agent
        return cls(
            outcome=outcome,
            digest=digest,
            finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            session_id=agent.session_id if agent else None,
            failure=facts.failure,
            limit_type=agent.limit_type if agent else None,
            log=agent.log if agent else None,
            result=agent.result if agent else None,
            duration_s=agent.duration_s if agent else None,
            cost_usd=agent.cost_usd if agent else None,
            num_turns=agent.num_turns if agent else None,
            model=agent.chosen_model if agent else None,
        )

    @classmethod
    def from_json(cls, data: object) -> TaskRecord:
        """The record in the cache's JSON (an empty record for anything else)."""
        if not isinstance(data, Mapping):
            return cls()
        texts = ("outcome", "digest", "finished", "session_id", "failure", "limit_type", "log")
        values: dict[str, Any] = {
            name: data[name]
            for name in (*texts, "result", "model")
            if isinstance(data.get(name), str)
        }
        for name in ("duration_s", "cost_usd"):
            number = data.get(name)
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                values[name] = float(number)
        turns = data.get("num_turns")
        if isinstance(turns, int) and not isinstance(turns, bool):
            values["num_turns"] = turns
        values["group_complete"] = data.get("group_complete") is True
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The flat JSON object (unknown facts left out)."""
        return {key: value for key, value in asdict(self).items() if value not in (None, False)}

    def merged(self, newer: TaskRecord) -> TaskRecord:
        """This record with what ``newer`` knows (its fields that are set) on top."""
        known = {key: value for key, value in asdict(newer).items() if value not in (None, False)}
        return replace(self, **known)

    def completed_with_group(self) -> TaskRecord:
        """The same record, its group since complete."""
        return replace(self, group_complete=True)


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

    def get(self, key: str) -> TaskRecord:
        """One task's record (empty when it has none)."""
        if _group_of(key) not in self.groups():
            return TaskRecord()
        return TaskRecord.from_json(self.cache.get(self.prefix + key, None))

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
            if record.group_complete:
                continue  # its group completed: rolling the group back runs it again
            if record.outcome == "passed" and record.digest == task_digest(task):
                keys.append(key)
        return frozenset(keys)

    def save(self, key: str, record: TaskRecord) -> None:
        """Store one task's record (its group joins the index first)."""
        groups = self.groups()
        if _group_of(key) not in groups:
            groups.add(_group_of(key))
            self.cache.set(self.prefix + GROUPS, sorted(groups))
        self.cache.set(self.prefix + key, record.to_json())

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
