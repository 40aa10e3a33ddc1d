"""What a run would spend, from the time and cost each task took in earlier runs.

A dry run prints it per group and in all. A task with no recorded run counts for
nothing and is named: the estimate never guesses. The time of a group is its tasks run
by ``agents`` agents at once (the longest task, or their sum shared by the agents,
whichever is longer); gates and commits are not counted. No pytest here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_label
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.text import dollars
from pytest_roadmap.text import seconds

__all__ = ["GroupHistory", "TaskHistory", "estimate_lines", "run_estimate"]


@dataclass(frozen=True)
class TaskHistory:
    """One task and what its last recorded run took (None: not recorded)."""

    id: str
    duration_s: float | None
    cost_usd: float | None

    @property
    def known(self) -> bool:
        """An earlier run recorded its time."""
        return self.duration_s is not None and self.duration_s > 0


@dataclass(frozen=True)
class GroupHistory:
    """A group's label (``Phase 1 · Group A``) and the tasks the run would start."""

    label: str
    tasks: list[TaskHistory]


def run_estimate(
    tasks: Sequence[Step], record_of: Callable[[str], TaskRecord], agents: int
) -> list[str]:
    """:func:`estimate_lines` of the task steps a run would start, grouped in their order."""
    groups: dict[int, GroupHistory] = {}
    for step in tasks:
        assert step.group is not None and step.task is not None
        record = record_of(task_key(step.phase, step.group, step.task))
        label = group_label(step.phase, step.group)
        group = groups.setdefault(step.ordinal, GroupHistory(label, []))
        history = TaskHistory(step.task.id, record.duration_s, record.cost_usd)
        group.tasks.append(history)
    return estimate_lines(list(groups.values()), agents)


def estimate_lines(groups: Sequence[GroupHistory], agents: int) -> list[str]:
    """One line per group with tasks, then the total; plain words where history lacks."""
    total_cost = total_time = 0.0
    known = unknown = 0
    out = []
    for group in groups:
        if not group.tasks:
            continue
        measured = [task for task in group.tasks if task.known]
        missing = [task.id for task in group.tasks if not task.known]
        known, unknown = known + len(measured), unknown + len(missing)
        if not measured:
            out.append(f"estimate {group.label}: no earlier run of {_names(missing)}")
            continue
        cost = sum(task.cost_usd or 0.0 for task in measured)
        time = _group_time([task.duration_s or 0.0 for task in measured], agents)
        total_cost, total_time = total_cost + cost, total_time + time
        line = f"estimate {group.label}: {dollars(cost)}, {seconds(time)}"
        if missing:
            line += f" (no earlier run of {_names(missing)}: not counted)"
        out.append(line)
    if not known:
        return [*out, "estimate: no task of this run ran before: nothing to estimate from"]
    counted = f"{known} of {known + unknown} tasks" if unknown else f"{known} tasks"
    agent_text = f"{agents} agent{'s' * (agents != 1)}"
    out.append(
        f"estimate in all: {dollars(total_cost)}, {seconds(total_time)} of tasks on "
        f"{agent_text} (from the last run of {counted}; gates not counted)"
    )
    return out


def _group_time(durations: Sequence[float], agents: int) -> float:
    return max(*durations, sum(durations) / max(1, agents))


def _names(ids: Sequence[str]) -> str:
    return ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
