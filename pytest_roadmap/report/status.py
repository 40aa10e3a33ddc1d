"""``--roadmap-status``: the progress table from status files, cache records and git history.

Rendering is pure (:func:`render_status`); :func:`show_status` gathers the facts and
prints them without running an item or writing a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.context import run_key
from pytest_roadmap.control.state import StatusFiles
from pytest_roadmap.model.plan import DONE_IN_ROADMAP
from pytest_roadmap.model.plan import group_key
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import MemoryCache
from pytest_roadmap.model.records import TaskRecords
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import shown
from pytest_roadmap.text import WIDTH
from pytest_roadmap.text import dollars
from pytest_roadmap.text import fit
from pytest_roadmap.text import seconds
from pytest_roadmap.workspace.history import completed_in_history
from pytest_roadmap.workspace.history import phase_commits

PASSED = "passed"
FAILED = "failed earlier"
PENDING = "pending"
CHANGED = "pending (text changed since it passed)"
GROUP_COMPLETE = "complete (group)"
STATES = (DONE_IN_ROADMAP, PASSED, GROUP_COMPLETE, FAILED, PENDING)


@dataclass(frozen=True)
class TaskState:
    """A task's state and the record of its last run (empty when none)."""

    state: str
    record: Mapping[str, Any]

    @property
    def finished(self) -> bool:
        """Nothing left to do for this task."""
        return self.state in (DONE_IN_ROADMAP, PASSED, GROUP_COMPLETE)


def task_state(task: Task, record: Mapping[str, Any], group_complete: bool) -> TaskState:
    """Done in ROADMAP.md, passed, complete with its group, failed earlier, or pending."""
    if task.done:
        return TaskState(DONE_IN_ROADMAP, record)
    outcome = record.get("outcome")
    if outcome == "passed":
        current = record.get("digest") in (None, task_digest(task))
        return TaskState(PASSED if current or group_complete else CHANGED, record)
    if group_complete:
        return TaskState(GROUP_COMPLETE, record)
    if outcome == "failed":
        return TaskState(FAILED, record)
    return TaskState(PENDING, record)


def _task_row(task: Task, state: TaskState, width: int) -> str:
    record = state.record
    duration, turns, cost = (record.get(k) for k in ("duration_s", "num_turns", "cost_usd"))
    finished = str(record.get("finished") or "").replace("T", " ")[:16]
    row = (
        f"    {task.id:<6}{fit(task.title, 36):<36}  {state.state:<18}  "
        f"{'' if duration is None else seconds(float(duration)):>7}  "
        f"{'' if turns is None else f'{turns} turns':>9}  "
        f"{'' if cost is None else dollars(float(cost)):>8}  {finished}"
    )
    return fit(row.rstrip(), width)


def _group_line(group: Group, source: str | None, states: list[TaskState]) -> str:
    title = f"Group {group.id}" + (f": {group.title}" if group.title else "")
    if source:
        return f"  {title} — complete ({source})"
    done = sum(s.finished for s in states)
    failed = sum(s.state == FAILED for s in states)
    if done == 0 and failed == 0:
        return f"  {title} — pending"
    extra = f", {failed} failed earlier" if failed else ""
    return f"  {title} — in progress: {done} of {len(states)} tasks done{extra}"


def render_status(
    roadmap: Roadmap,
    completed: Mapping[str, str],
    records: Mapping[str, Mapping[str, Any]],
    commits: Mapping[int, str] | None = None,
    phases: frozenset[int] | None = None,
    width: int = WIDTH,
) -> list[str]:
    """The progress table.

    ``completed`` maps group keys (``PHASE_1:A``) to where completion is recorded,
    ``records`` task keys (``PHASE_1:A:A1``) to their cache records, ``commits``
    phase numbers to their commit; ``phases`` limits the phases shown.
    """
    commits = commits or {}
    out: list[str] = []
    counts = dict.fromkeys(STATES, 0)
    counts[CHANGED] = 0
    groups_done = groups_all = phases_done = phases_all = 0
    cost = agent_time = 0.0
    for phase in roadmap.phases:
        if phases is not None and phase.number not in phases:
            continue
        phases_all += 1
        body: list[str] = []
        complete = True
        for group in phase.groups:
            groups_all += 1
            source = completed.get(group_key(phase, group))
            groups_done += source is not None
            complete = complete and source is not None
            states = []
            for task in group.tasks:
                record = records.get(task_key(phase, group, task), {})
                states.append(task_state(task, record, source is not None))
                if record.get("cost_usd") is not None:
                    cost += float(record["cost_usd"])
                if record.get("duration_s") is not None:
                    agent_time += float(record["duration_s"])
            body.append(fit(_group_line(group, source, states), width))
            for task, state in zip(group.tasks, states, strict=True):
                counts[state.state] += 1
                body.append(_task_row(task, state, width))
        phases_done += complete
        summary = "complete" if complete else "pending"
        if phase.number in commits:
            summary += f", committed {commits[phase.number]}"
        out.append(fit(f"Phase {phase.number}: {phase.title} — {summary}", width))
        out += body
    done = counts[DONE_IN_ROADMAP] + counts[PASSED] + counts[GROUP_COMPLETE]
    total = sum(counts.values())
    parts = [f"{counts[s]} {s}" for s in (*STATES, CHANGED) if counts[s]]
    out.append(fit(f"tasks: {done} of {total} done — {', '.join(parts) or 'none'}", width))
    out.append(
        f"groups complete: {groups_done} of {groups_all}; phases complete: {phases_done} of "
        f"{phases_all}; recorded cost {dollars(cost)}, agent time {seconds(agent_time)}"
    )
    return out


def show_status(config: pytest.Config) -> int:
    """Configure, print the progress table and return 0; collects and writes nothing."""
    config._do_configure()
    run = config.stash[run_key]
    settings = run.settings
    roadmap = run.roadmap
    status = StatusFiles(settings.status_dir, settings.project_dir)
    cache = getattr(config, "cache", None)
    task_records = TaskRecords(cache if cache is not None else MemoryCache(), settings.roadmap.name)
    records = {
        key: task_records.get(key)
        for key in (task_key(phase, group, task) for phase, group, task in roadmap.tasks())
    }
    # as the run would see it: commits saying groups are complete, then the status files
    history = completed_in_history(settings.project_dir, roadmap)
    lines = render_status(
        roadmap,
        {**history, **status.completed_groups(roadmap)},
        records,
        phase_commits(settings.project_dir),
        settings.phases,
    )
    from pytest_roadmap.control.services import up_commands

    commands = up_commands(settings)
    if commands:
        lines.append(f"services: a run starts them first with {'; '.join(commands)}")
    lines.append(report_line(settings.report, settings.project_dir))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", f"roadmap status: {settings.roadmap.name}")
        for line in lines:
            reporter.write_line(line)
    return 0


def report_line(report: Path | None, project_dir: Path) -> str:
    """Where the HTML report with the run's timeline is (or that it is turned off)."""
    if report is None:
        return "report: none (roadmap_report = none)"
    where = shown(report, project_dir)
    return f"report: {where}" + ("" if report.exists() else " (not written yet)")
