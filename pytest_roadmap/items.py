"""The roadmap as pytest nodes: file, phases, groups, and the task, gate and commit items."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap import agent
from pytest_roadmap import commands
from pytest_roadmap import gates
from pytest_roadmap import gitops
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.context import run_key
from pytest_roadmap.plan import Step
from pytest_roadmap.plan import group_name
from pytest_roadmap.plan import phase_name
from pytest_roadmap.plan import task_key
from pytest_roadmap.prompt import CONTINUE_TEMPLATE
from pytest_roadmap.prompt import load_template
from pytest_roadmap.prompt import prompt_values
from pytest_roadmap.prompt import render
from pytest_roadmap.roadmap import Group
from pytest_roadmap.roadmap import Phase
from pytest_roadmap.state import task_digest

#: seconds pytest-timeout waits beyond the task timeout before it steps in
TIMEOUT_BACKSTOP = 60.0
RESULT_TEXT_LIMIT = 2000


class RoadmapFailure(Exception):
    """A task, gate or commit failed; ``reason`` is one line, ``details`` follow it."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def describe(self) -> str:
        """The failure as the report shows it: the reason first, then the details."""
        return f"{self.reason}\n{self.details}".rstrip()


def _failure_details(log: Path | None, project_dir: Path, tail: str) -> str:
    lines = []
    if log is not None:
        lines.append(f"log: {_relative(log, project_dir)}")
    if tail.strip():
        lines += ["--- last lines of the log ---", tail.rstrip()]
    return "\n".join(lines)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def log_path(run: RoadmapRun, step: Step, suffix: str) -> Path:
    """``logs/orchestrator/phase1_groupA_A1_<unix ts>.log``."""
    parts = [phase_name(step.phase)]
    if step.group is not None:
        parts.append(group_name(step.group))
    parts.append(suffix)
    return run.settings.log_dir / f"{'_'.join(parts)}_{int(time.time())}.log"


class RoadmapFile(pytest.File):
    """The roadmap file: one child per phase."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        run = self.config.stash[run_key]
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
        step = run.steps[f"{self.name}::commit"]
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
        run = self.config.stash[run_key]
        prefix = f"{phase_name(self.phase)}::{self.name}"
        for task in self.group.tasks:
            yield TaskItem.from_parent(self, name=task.id, step=run.steps[f"{prefix}::{task.id}"])
        yield GateItem.from_parent(
            self, name="gate", callobj=_gate_function, step=run.steps[f"{prefix}::gate"]
        )


class _StepMixin:
    """What task, gate and commit items share: their step and the skip check."""

    step: Step
    config: pytest.Config
    path: Path

    @property
    def run(self) -> RoadmapRun:
        return self.config.stash[run_key]

    def add_backstop(self) -> None:
        """pytest-timeout steps in a little after our own timeout would have."""
        if self.config.pluginmanager.hasplugin("timeout"):
            backstop = self.run.settings.task_timeout + TIMEOUT_BACKSTOP
            self.add_marker(pytest.mark.timeout(backstop))  # type: ignore[attr-defined]

    def skip_if_blocked(self) -> None:
        progress = self.run.progress
        if progress is not None:
            reason = progress.skip_reason(self.step)
            if reason:
                # reported at the roadmap line of the step, not at this line
                raise pytest.skip.Exception(reason, _use_item_location=True)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.step.line - 1, self.step.label

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """A roadmap failure shows its reason and log tail, not a Python traceback."""
        if isinstance(excinfo.value, RoadmapFailure):
            return excinfo.value.describe()
        return super().repr_failure(excinfo, style=style)  # type: ignore[misc]


class TaskItem(_StepMixin, pytest.Item):
    """One task: one agent run."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.add_backstop()

    def setup(self) -> None:
        self.skip_if_blocked()

    def prompt(self) -> str:
        """The prompt for this task's agent."""
        step, settings = self.step, self.run.settings
        assert step.group is not None and step.task is not None
        values = prompt_values(settings.roadmap.name, step.phase, step.group, step.task)
        return render(load_template(settings.prompt_template), values)

    def session_to_resume(self) -> str | None:
        """With --roadmap-resume-sessions: the session of this task's unfinished attempt."""
        run, step = self.run, self.step
        if not run.settings.resume_sessions or run.records is None or step.task is None:
            return None
        assert step.group is not None
        record = run.records.get(task_key(step.phase, step.group, step.task))
        unfinished = record.get("outcome") in ("failed", "interrupted")
        current = record.get("digest") == task_digest(step.task)
        session = record.get("session_id")
        return str(session) if unfinished and current and session else None

    def continue_prompt(self, session: str) -> str:
        """The short prompt of a resumed session."""
        step, settings = self.step, self.run.settings
        assert step.group is not None and step.task is not None and self.run.records is not None
        record = self.run.records.get(task_key(step.phase, step.group, step.task))
        values = prompt_values(settings.roadmap.name, step.phase, step.group, step.task)
        values["reason"] = str(record.get("failure") or "it did not finish")
        return render(CONTINUE_TEMPLATE, values)

    def runtest(self) -> None:
        settings = self.run.settings
        log = log_path(self.run, self.step, self.name)
        resume = self.session_to_resume()
        prompt = self.continue_prompt(resume) if resume else self.prompt()
        command = commands.agent_command(settings, self.step, prompt, log, resume=resume)
        if resume:
            self.user_properties.append(("resumed_session", resume))
        if settings.dry_run:
            first_line = self.prompt().splitlines()[0]
            self.user_properties.append(
                ("dry_run", f"would run: {shlex.join(command.argv)} in {command.cwd}: {first_line}")
            )
            return
        result = agent.run_agent(command, log, settings.task_timeout)
        self.user_properties.extend(_result_properties(result, settings.project_dir))
        assert self.step.task is not None
        failure = result.failure(self.step.task.id, settings.task_timeout)
        if failure is not None:
            self.user_properties.append(("failure", failure.reason))
            if failure.systemic:
                self.user_properties.append(("systemic", failure.reason))
            raise RoadmapFailure(
                failure.reason, _failure_details(log, settings.project_dir, result.tail)
            )


def _result_properties(result: agent.AgentResult, project_dir: Path) -> list[tuple[str, object]]:
    props: list[tuple[str, object]] = [
        ("log", _relative(result.log_path, project_dir)),
        ("exit_code", result.exit_code),
        ("duration_s", round(result.duration, 3)),
    ]
    optional = {
        "cost_usd": result.cost_usd,
        "num_turns": result.num_turns,
        "session_id": result.session_id,
        "result": (result.result_text or "")[:RESULT_TEXT_LIMIT] or None,
    }
    props += [(name, value) for name, value in optional.items() if value is not None]
    return props


def _gate_function(request: pytest.FixtureRequest, roadmap_gate_commands: Sequence[str]) -> None:
    """What a gate item calls, with its commands from the overridable fixture."""
    item = request.node
    assert isinstance(item, GateItem)
    item.run_gate(list(roadmap_gate_commands))


class GateItem(_StepMixin, pytest.Function):
    """A group's gate: the project's checks after all of the group's tasks."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        self.step = step
        super().__init__(**kwargs)
        self.add_backstop()

    def setup(self) -> None:
        self.skip_if_blocked()
        super().setup()

    def run_gate(self, commands: list[str]) -> None:
        """Run the commands; the first failing one fails the gate."""
        settings = self.run.settings
        for index, command in enumerate(commands, 1):
            self.user_properties.append((f"gate_command_{index}", command))
        if settings.dry_run:
            self.user_properties.append(
                ("dry_run", f"would run gate: {' && '.join(commands) or '(no commands)'}")
            )
            return
        if not commands:
            return
        log = log_path(self.run, self.step, "gate")
        self.user_properties.append(("log", _relative(log, settings.project_dir)))
        results = gates.run_gate(commands, settings.project_dir, log, settings.task_timeout)
        for index, result in enumerate(results, 1):
            self.user_properties.append((f"gate_exit_{index}", result.exit_code))
            self.user_properties.append((f"gate_duration_{index}", round(result.duration, 3)))
        failed = results[-1]
        if failed.ok:
            return
        how = (
            f"timed out after {settings.task_timeout:g}s"
            if failed.timed_out
            else f"exited with code {failed.exit_code}"
        )
        raise RoadmapFailure(
            f"{self.step.label} failed: '{failed.command}' {how}",
            _failure_details(log, settings.project_dir, failed.tail),
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return _StepMixin.reportinfo(self)


class CommitItem(_StepMixin, pytest.Item):
    """A phase's commit (and push) of everything its groups produced."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step = step

    def setup(self) -> None:
        self.skip_if_blocked()

    def runtest(self) -> None:
        settings = self.run.settings
        if settings.dry_run:
            what = "commit and push" if settings.push else "commit"
            self.user_properties.append(("dry_run", f"would {what} the phase"))
            return
        if not settings.commit:
            raise pytest.skip.Exception(
                "commit turned off by --roadmap-no-commit", _use_item_location=True
            )
        exclude = [settings.log_dir]
        xmlpath = self.config.getoption("xmlpath", None)
        if xmlpath:
            exclude.append(Path(xmlpath).absolute())
        message = gitops.commit_message(self.run.plan, self.step.phase)
        outcome = gitops.commit_phase(settings.project_dir, message, exclude, settings.push)
        self.user_properties.extend(outcome.properties())
        if outcome.failure:
            raise RoadmapFailure(outcome.failure, outcome.details)


class PadItem(pytest.Item):
    """Held by an idle xdist worker so that it runs its real item at once (never reported)."""

    def runtest(self) -> None:  # pragma: no cover - the protocol hook skips it
        pass

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "dispatch pad"
