"""The status view: the progress table from status files, cache records and git history.

Rendering is pure (:func:`render_status`); :class:`StatusView` prints it in a session that
collects, runs and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.control.services import up_commands
from pytest_roadmap.model.plan import DONE_IN_ROADMAP
from pytest_roadmap.model.plan import group_key
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import shown
from pytest_roadmap.settings import name
from pytest_roadmap.text import WIDTH
from pytest_roadmap.text import dollars
from pytest_roadmap.text import fit
from pytest_roadmap.text import seconds
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
    record: TaskRecord

    @property
    def finished(self) -> bool:
        """Nothing left to do for this task."""
        return self.state in (DONE_IN_ROADMAP, PASSED, GROUP_COMPLETE)


def task_state(task: Task, record: TaskRecord, group_complete: bool) -> TaskState:
    """Done in ROADMAP.md, passed, complete with its group, failed earlier, or pending."""
    if task.done:
        return TaskState(DONE_IN_ROADMAP, record)
    outcome = record.outcome
    if outcome == "passed":
        current = record.digest in (None, task_digest(task))
        return TaskState(PASSED if current or group_complete else CHANGED, record)
    if group_complete:
        return TaskState(GROUP_COMPLETE, record)
    if outcome == "failed":
        return TaskState(FAILED, record)
    return TaskState(PENDING, record)


def _task_row(task: Task, state: TaskState, width: int) -> str:
    record = state.record
    duration, turns, cost = record.duration_s, record.num_turns, record.cost_usd
    finished = (record.finished or "").replace("T", " ")[:16]
    row = (
        f"    {task.id:<6}{fit(task.title, 36):<36}  {state.state:<18}  "
        f"{'' if duration is None else seconds(duration):>7}  "
        f"{'' if turns is None else f'{turns} turns':>9}  "
        f"{'' if cost is None else dollars(cost):>8}  {finished}"
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
    records: Mapping[str, TaskRecord],
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
                record = records.get(task_key(phase, group, task)) or TaskRecord()
                states.append(task_state(task, record, source is not None))
                cost += record.cost_usd or 0.0
                agent_time += record.duration_s or 0.0
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


class StatusView:
    """The status view: the session collects nothing, runs nothing and writes nothing;
    its run loop prints the progress table. Registered by ``pytest_configure`` instead of the
    controller, on the same configuration a run gets."""

    def __init__(self, config: pytest.Config, run: RoadmapRun, completed: Mapping[str, str]):
        self.config = config
        self.run = run
        self.completed = completed  # group key -> where its completion is recorded
        # as --collect-only: no xdist workers (xdist configures after us), no cache written
        config.option.collectonly = True
        config.option.verbose = min(config.option.verbose, -2)  # the table, nothing else

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self) -> bool:
        return True  # nothing to collect

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> bool:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"roadmap status: {self.run.settings.roadmap.name}")
            for line in self.lines():
                reporter.write_line(line)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK

    def lines(self) -> list[str]:
        """The table, the services a run would start, where the report is."""
        settings, roadmap, records = self.run.settings, self.run.roadmap, self.run.records
        assert records is not None
        lines = render_status(
            roadmap,
            self.completed,
            {key: records.get(key) for key in (task_key(*t) for t in roadmap.tasks())},
            phase_commits(settings.project_dir),
            settings.phases,
        )
        commands = up_commands(settings)
        if commands:
            lines.append(f"services: a run starts them first with {'; '.join(commands)}")
        lines.append(report_line(settings.report, settings.project_dir))
        return lines


def report_line(report: Path | None, project_dir: Path) -> str:
    """Where the HTML report with the run's timeline is (or that it is turned off)."""
    if report is None:
        return f"report: none ({name('report')} = none)"
    where = shown(report, project_dir)
    return f"report: {where}" + ("" if report.exists() else " (not written yet)")
