"""The roadmap as pytest nodes: file, phases, groups, and the task, gate and commit items.

The items stay thin, as pytest's own example items do: each checks whether its step may
run, calls out to :mod:`pytest_roadmap.steps`, and reports its :class:`StepFacts` (one
serialised entry, plus the human-readable JUnit properties written from it).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.context import run_key
from pytest_roadmap.control.lock import lock_files
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_name
from pytest_roadmap.model.plan import local_id
from pytest_roadmap.model.plan import phase_name
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.settings import Settings
from pytest_roadmap.steps.checks import task_check_count
from pytest_roadmap.steps.commit import run_commit
from pytest_roadmap.steps.failure import RoadmapFailure
from pytest_roadmap.steps.gate import NPM_GATES
from pytest_roadmap.steps.gate import GateRun
from pytest_roadmap.steps.task import TaskRun

#: seconds pytest-timeout waits beyond the task timeout before it steps in
TIMEOUT_BACKSTOP = 60.0


def task_backstop(settings: Settings, checks: int = 0) -> float:
    """pytest-timeout's limit for a task: each attempt may use the whole task timeout, and
    it may wait for usage limits as long as ``settings.limit_wait`` allows. A task with
    ``checks`` gets that for each round, and the task timeout for each check run.

    pytest-timeout only steps in when our own timeouts failed; set at the task timeout
    alone, it would kill a task that retries after a transient failure.
    """
    backoff = settings.retry_backoff * ((1 << settings.retries) - 1)
    runs = (settings.retries + 1) * settings.task_timeout + backoff
    if checks:
        rounds = settings.check_attempts
        runs = rounds * runs + checks * (rounds + 1) * settings.task_timeout
    return runs + settings.limit_wait + TIMEOUT_BACKSTOP


def gate_backstop(settings: Settings) -> float:
    """pytest-timeout's limit for a gate: each of its commands, on each of its runs, and
    each repair agent between them may use the whole task timeout."""
    commands = len(settings.gates) if settings.gates is not None else len(NPM_GATES)
    runs = (settings.fix_attempts + 1) * max(1, commands) + settings.fix_attempts
    return runs * settings.task_timeout + settings.limit_wait + TIMEOUT_BACKSTOP


class RoadmapFile(pytest.File):
    """The roadmap file: one child per phase."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        run = self.config.stash[run_key]
        if self.config.pluginmanager.hasplugin("timeout"):
            # items find the marker on this, their root (one marker, not one per item);
            # gates have their own
            self.add_marker(pytest.mark.timeout(task_backstop(run.settings)))
        for phase in run.roadmap.phases:
            yield PhaseNode.from_parent(self, name=phase_name(phase), phase=phase)


class PhaseNode(pytest.Collector):
    """A phase: its groups, then its commit item."""

    def __init__(self, *, phase: Phase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phase = phase

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        run = self.config.stash[run_key]
        for group in self.phase.groups:
            yield GroupNode.from_parent(self, name=group_name(group), phase=self.phase, group=group)
        step = run.steps[local_id(self.phase, None, "commit")]
        yield CommitItem.from_parent(self, name="commit", step=step)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.phase.line - 1, f"Phase {self.phase.number}: {self.phase.title}"


class GroupNode(pytest.Collector):
    """A group: its task items, then its gate item."""

    def __init__(self, *, phase: Phase, group: Group, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phase = phase
        self.group = group

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        steps = self.config.stash[run_key].steps
        for task in self.group.tasks:
            step = steps[local_id(self.phase, self.group, task.id)]
            yield TaskItem.from_parent(self, name=task.id, step=step)
        step = steps[local_id(self.phase, self.group, "gate")]
        yield GateItem.from_parent(self, name="gate", callobj=_gate_function, step=step)


class _StepMixin:
    """What task, gate and commit items share: their step, their facts, the skip check."""

    step: Step
    facts: StepFacts
    config: pytest.Config
    path: Path
    user_properties: list[tuple[str, object]]

    @property
    def run(self) -> RoadmapRun:
        return self.config.stash[run_key]

    def skip_if_blocked(self) -> None:
        progress = self.run.progress
        if progress is not None:
            reason = progress.skip_reason(self.step)
            if reason:
                # reported at the roadmap line of the step, not at this line
                raise pytest.skip.Exception(reason, _use_item_location=True)

    def publish(self) -> None:
        """Put the facts into the report: the readable properties and the one entry."""
        self.user_properties += [*self.facts.properties(), self.facts.entry()]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.step.line - 1, self.step.label

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """A roadmap failure shows its reason and log tail, not a Python traceback."""
        if isinstance(excinfo.value, RoadmapFailure):
            return excinfo.value.describe()
        return super().repr_failure(excinfo, style=style)  # type: ignore[misc]


class _StepItem(_StepMixin, pytest.Item):
    """A task or commit item: a plain item over its step."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.facts = StepFacts()

    def setup(self) -> None:
        self.skip_if_blocked()


class TaskItem(_StepItem):
    """One task: one agent run."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(step=step, **kwargs)
        checks = task_check_count(self.run.settings, step)
        if checks and self.config.pluginmanager.hasplugin("timeout"):
            self.add_marker(pytest.mark.timeout(task_backstop(self.run.settings, checks)))

    def runtest(self) -> None:
        try:
            TaskRun(self, self.step, self.facts).run()
        finally:
            self.publish()


def _gate_function(request: pytest.FixtureRequest, roadmap_gate_commands: Sequence[str]) -> None:
    """What a gate item calls, with its commands from the overridable fixture."""
    item = request.node
    assert isinstance(item, GateItem)
    try:
        GateRun(item, item.step, item.facts).run(list(roadmap_gate_commands))
    finally:
        item.publish()


class GateItem(_StepMixin, pytest.Function):
    """A group's gate: the project's checks after all of the group's tasks."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        self.step = step
        self.facts = StepFacts()
        super().__init__(**kwargs)
        if self.config.pluginmanager.hasplugin("timeout"):
            self.add_marker(pytest.mark.timeout(gate_backstop(self.run.settings)))

    def setup(self) -> None:
        self.skip_if_blocked()
        super().setup()

    def reportinfo(self) -> tuple[Path, int, str]:
        return _StepMixin.reportinfo(self)


class CommitItem(_StepItem):
    """A phase's commit (and push) of everything its groups produced."""

    def runtest(self) -> None:
        settings = self.run.settings
        exclude = [settings.log_dir, *lock_files(settings.status_dir)]
        try:
            run_commit(self, self.step, self.facts, exclude)
        finally:
            self.publish()


class PadItem(pytest.Item):
    """Held by an idle xdist worker so that it runs its real item at once (never reported)."""

    def runtest(self) -> None:  # pragma: no cover - the protocol hook skips it
        pass

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "dispatch pad"
