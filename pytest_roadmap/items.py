"""The roadmap as pytest nodes: file, phases, groups, and the task, gate and commit items."""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import TypeVar

import pytest

from pytest_roadmap import segments
from pytest_roadmap.agents import presets as agents
from pytest_roadmap.agents import run as agent
from pytest_roadmap.agents.attempts import Attempts
from pytest_roadmap.agents.attempts import continue_prompt
from pytest_roadmap.agents.prompt import MERGE_TEMPLATE
from pytest_roadmap.agents.prompt import REPAIR_TEMPLATE
from pytest_roadmap.agents.prompt import load_template
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.stream import AgentFailure
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.context import run_key
from pytest_roadmap.dist import nodes
from pytest_roadmap.model.plan import COMPLETE_PHASE
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import group_name
from pytest_roadmap.model.plan import phase_name
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import shown
from pytest_roadmap.settings import Settings
from pytest_roadmap.steps import gate as gates
from pytest_roadmap.workspace import clone
from pytest_roadmap.workspace import phase_commit
from pytest_roadmap.workspace import worktree
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import changes_since_commit

_T = TypeVar("_T")
#: seconds pytest-timeout waits beyond the task timeout before it steps in
TIMEOUT_BACKSTOP = 60.0
RESULT_TEXT_LIMIT = 2000
_FIX_LOG = re.compile(r"fix_\d+_log$")


def task_backstop(settings: Settings) -> float:
    """pytest-timeout's limit for a task: each attempt may use the whole task timeout, and
    it may wait for usage limits as long as ``--roadmap-limit-wait`` allows.

    pytest-timeout only steps in when our own timeouts failed; set at the task timeout
    alone, it would kill a task that retries after a transient failure.
    """
    backoff = settings.retry_backoff * ((1 << settings.retries) - 1)
    runs = (settings.retries + 1) * settings.task_timeout + backoff
    return runs + settings.limit_wait + TIMEOUT_BACKSTOP


def gate_backstop(settings: Settings) -> float:
    """pytest-timeout's limit for a gate: each of its commands, on each of its runs, and
    each repair agent between them may use the whole task timeout."""
    commands = len(settings.gates) if settings.gates is not None else len(gates.NPM_GATES)
    runs = (settings.fix_attempts + 1) * max(1, commands) + settings.fix_attempts
    return runs * settings.task_timeout + settings.limit_wait + TIMEOUT_BACKSTOP


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
        lines.append(f"log: {shown(log, project_dir)}")
    if tail.strip():
        lines += ["--- last lines of the log ---", tail.rstrip()]
    return "\n".join(lines)


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

    def setup(self) -> None:
        self.skip_if_blocked()

    def prompt(self) -> str:
        """The prompt for this task's agent."""
        step, settings = self.step, self.run.settings
        assert step.group is not None and step.task is not None
        values = prompt_values(settings.roadmap.name, step.phase, step.group, step.task)
        return render(load_template(settings.prompt_template), values)

    def session_to_resume(self) -> str | None:
        """The session of this task's unfinished attempt in an earlier run: one a usage limit
        stopped (it continues by default), or with --roadmap-resume-sessions any."""
        run, step = self.run, self.step
        if run.records is None or step.task is None:
            return None
        assert step.group is not None
        record = run.records.get(task_key(step.phase, step.group, step.task))
        if run.settings.resume_sessions:
            unfinished = record.get("outcome") in ("failed", "interrupted")
        else:
            unfinished = record.get("outcome") == "interrupted" and "limit_type" in record
        current = record.get("digest") == task_digest(step.task)
        session = record.get("session_id")
        return str(session) if unfinished and current and session else None

    def continue_prompt(self, session: str, reason: str | None = None) -> str:
        """The short prompt of a resumed session."""
        step = self.step
        assert step.group is not None and step.task is not None
        if reason is None and self.run.records is not None:
            record = self.run.records.get(task_key(step.phase, step.group, step.task))
            reason = record.get("failure")
        return continue_prompt(self.config, step, str(reason or "it did not finish"))

    def run_with_retries(
        self, command: agent.AgentCommand, log: Path
    ) -> tuple[AgentResult, AgentFailure | None]:
        """Run the agent through retries and usage-limit waits (see agents/attempts.py).

        Report properties get the last attempt's facts, the cost of all attempts.
        """
        attempts = Attempts(self, self.step, log, self.run.settings.retries)
        try:
            result, failure = attempts.run(command)
        finally:
            self.user_properties.extend(attempts.properties())
        facts = _result_properties(result, self.run.settings.project_dir)
        self.user_properties.extend(fact for fact in facts if fact[0] != "cost_usd")
        if attempts.cost:
            self.user_properties.append(("cost_usd", round(attempts.cost, 6)))
        if failure is not None and result.usage_limit is not None:
            self.user_properties.append(("usage_limit_stop", failure.reason))
        return result, failure

    def runtest(self) -> None:
        settings = self.run.settings
        log = log_path(self.run, self.step, self.name)
        resume = self.session_to_resume()
        prompt = self.continue_prompt(resume) if resume else self.prompt()
        workspace = self.workspace(log)
        cwd = workspace.cwd if workspace else worktree.planned_cwd(settings, self.step)
        command = agents.command_for(self.config, self.step, prompt, log, resume=resume, cwd=cwd)
        if resume:
            self.user_properties.append(("resumed_session", resume))
        if settings.dry_run:
            first_line = self.prompt().splitlines()[0]
            self.user_properties.append(
                ("dry_run", f"would run: {shlex.join(command.argv)} in {command.cwd}: {first_line}")
            )
            return
        try:
            result, failure = self.run_with_retries(command, log)
        except BaseException:  # interrupted: keep the agent's work on its branch
            if workspace is not None:
                worktree.save_work(workspace, self.step, "interrupted")
            raise
        finally:
            shipped = nodes.ship_log(log) if self.remote else None
            if shipped is not None:  # the controller writes it to its log directory
                self.user_properties.append(shipped)
        if failure is not None and self.remote:
            where = nodes.worker_id(self.config)
            failure = dataclasses.replace(failure, reason=f"{where}: {failure.reason}")
        if failure is not None:
            self.user_properties.append(("failure", failure.reason))
            if failure.systemic:
                self.user_properties.append(("systemic", failure.reason))
            raise RoadmapFailure(
                failure.reason, _failure_details(log, settings.project_dir, result.tail)
            )
        if workspace is not None and self.remote:  # commit in the clone, push the branch
            origin = nodes.origin(self.config)
            self.user_properties += _isolated(clone.commit_task, origin, workspace, self.step)
            self.user_properties += _isolated(clone.push_task, origin, settings, workspace)
        elif workspace is not None:
            self.user_properties.extend(_isolated(worktree.commit_task, workspace, self.step))

    @property
    def remote(self) -> bool:
        """Run on a worker outside the controller's repository (see dist/nodes.py)."""
        return nodes.is_remote(self.config)

    def workspace(self, log: Path) -> worktree.TaskWorkspace | None:
        """With worktree isolation: the task's own worktree and branch, made or reused.

        On a remote worker: the worker's clone, on the task's branch.
        """
        settings = self.run.settings
        if settings.dry_run:
            return None
        if self.remote:
            self.user_properties.append(("worker", nodes.worker_id(self.config)))
            origin = nodes.origin(self.config)
            workspace = _isolated(clone.prepare_task, origin, settings, self.step)
        elif settings.isolation != "worktree":
            return None
        else:
            workspace = _isolated(worktree.prepare_task, settings, self.step, log)
        self.user_properties.extend(workspace.properties())
        return workspace


def _result_properties(result: AgentResult, project_dir: Path) -> list[tuple[str, object]]:
    props: list[tuple[str, object]] = [
        ("log", shown(result.log_path, project_dir)),
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
    settings = item.run.settings
    commands = list(roadmap_gate_commands)
    isolated = settings.isolation == "worktree" and not settings.dry_run
    if not settings.dry_run:  # remote workers' task branches, fetched from the remote
        _isolated(nodes.local_only, item.config, item.step.label)
        url = _isolated(nodes.group_url, item.config, item.step)
        if url is not None:
            item.user_properties.extend(_isolated(clone.fetch_group, url, settings, item.step))
    try:
        if isolated:  # the task branches first; unresolved conflicts fail the gate
            item.user_properties.extend(item.merge(commands))
        item.run_gate(commands)
    finally:
        if item.repairs:
            item.user_properties.append(("fix_attempts", item.repairs))
    if isolated:
        item.user_properties.extend(_isolated(worktree.remove_group, settings, item.step))


def _isolated(action: Callable[..., _T], *args: Any) -> _T:
    """Call a worktree action; its errors fail the item with their reason and details."""
    try:
        return action(*args)
    except WorkspaceError as exc:
        raise RoadmapFailure(exc.reason, exc.details) from None


class GateItem(_StepMixin, pytest.Function):
    """A group's gate: the project's checks after all of the group's tasks."""

    def __init__(self, *, step: Step, **kwargs: Any) -> None:
        self.step = step
        #: repair agents started, on merge conflicts and on the gate: one bound for both
        self.repairs = 0
        super().__init__(**kwargs)
        if self.config.pluginmanager.hasplugin("timeout"):
            self.add_marker(pytest.mark.timeout(gate_backstop(self.run.settings)))

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
        self.user_properties.append(("log", shown(log, settings.project_dir)))
        failed = self.check(commands, log)
        attempts = 0
        while failed is not None and self.repairs < settings.fix_attempts:
            attempts += 1
            self.repair(commands, failed)
            failed = self.check(commands, log)
        if failed is None:
            return
        raise RoadmapFailure(
            f"{self.step.label} failed: '{failed.command}' {self.how(failed)}"
            f"{self.after(attempts)}",
            _failure_details(log, settings.project_dir, failed.tail),
        )

    def after(self, attempts: int) -> str:
        """`` (after 2 repair attempts)``, or why there was none left; ``""`` for none."""
        if attempts:
            return f" (after {attempts} repair attempt{'s' * (attempts != 1)})"
        if self.repairs:
            return f" (no repair attempt left: {self.repairs} used on merge conflicts)"
        return ""

    def how(self, failed: gates.CommandResult) -> str:
        """How a gate command failed, in a few words."""
        if failed.timed_out:
            return f"timed out after {self.run.settings.task_timeout:g}s"
        return f"exited with code {failed.exit_code}"

    def check(self, commands: list[str], log: Path) -> gates.CommandResult | None:
        """Run the gate's commands once; the failing one, or None when all passed."""
        settings = self.run.settings
        with segments.span(self, "gate"):
            results = gates.run_gate(commands, settings.project_dir, log, settings.task_timeout)
        for index, result in enumerate(results, 1):
            self.user_properties.append((f"gate_exit_{index}", result.exit_code))
            self.user_properties.append((f"gate_duration_{index}", round(result.duration, 3)))
        return None if results[-1].ok else results[-1]

    def repair(self, checks: list[str], failed: gates.CommandResult) -> None:
        """Start one repair agent on the failing gate."""
        step = self.step
        assert step.group is not None
        values = {
            **self.group_values(checks),
            "command": failed.command,
            "how": self.how(failed),
            "output": failed.tail.strip()[-6000:],
            "diff": changes_since_commit(self.run.settings.project_dir),
        }
        why = f"gate: '{failed.command}' {self.how(failed)}"
        title = f"Repair the gate of Group {step.group.id}"
        self.start_fixer(title, why, render(REPAIR_TEMPLATE, values))

    def merge(self, commands: list[str]) -> list[tuple[str, object]]:
        """Merge the task branches; conflicts go to repair agents first."""

        def resolve(conflict: worktree.MergeConflict) -> bool:
            return self.resolve_conflict(commands, conflict)

        try:
            return worktree.merge_group(self.run.settings, self.step, resolve)
        except WorkspaceError as exc:
            details = exc.details
            if self.repairs:
                tried = f"{self.repairs} repair attempt{'s' * (self.repairs != 1)}"
                logs = [str(value) for name, value in self.user_properties if _FIX_LOG.match(name)]
                details += f"\n{tried} did not resolve it: {', '.join(logs)}"
            raise RoadmapFailure(exc.reason, details) from None

    def resolve_conflict(self, commands: list[str], conflict: worktree.MergeConflict) -> bool:
        """Start one repair agent on a merge in progress; False when no attempt is left."""
        step = self.step
        assert step.group is not None
        if self.repairs >= self.run.settings.fix_attempts:
            return False
        values = {
            **self.group_values(commands),
            "branch": conflict.branch,
            "target": conflict.target,
            "task_id": conflict.task.id,
            "task_title": conflict.task.title,
            "files": "\n".join(f"- {path}" for path in conflict.files),
        }
        title = f"Resolve the merge conflict of Group {step.group.id}"
        why = f"merge conflict: {conflict.describe()}"
        self.start_fixer(title, why, render(MERGE_TEMPLATE, values))
        return True

    def group_values(self, commands: list[str]) -> dict[str, str]:
        """Prompt values every repair agent gets: the group, its tasks, the gate commands."""
        step = self.step
        assert step.group is not None
        return {
            "phase_number": str(step.phase.number),
            "group_id": step.group.id,
            "group_title": step.group.title,
            "commands": "\n".join(f"- {command}" for command in commands) or "(none)",
            "tasks": "\n".join(f"- {t.id}: {t.title}" for t in step.group.tasks),
        }

    def start_fixer(self, title: str, why: str, prompt: str) -> None:
        """Run repair agent number N in the main tree (its own log: ..._fix<N>_<ts>.log)."""
        settings, step = self.run.settings, self.step
        assert step.group is not None
        self.repairs += 1
        attempt = self.repairs
        fixer = Task(id=f"fix{attempt}", title=title, text="", line=step.group.line, done=False)
        fix_step = Step("task", step.phase, step.group, fixer, step.ordinal)
        log = log_path(self.run, step, f"fix{attempt}")
        command = agents.command_for(self.config, fix_step, prompt, log)
        started = time.time()
        attempts = Attempts(self, fix_step, log, retries=0)
        _result, failure = attempts.run(command)
        note = f"{fixer.id} ({why}): {failure.reason if failure else 'ok'}"
        segments.record(self, "repair", started, time.time(), note)
        if attempts.limit is not None:
            self.user_properties.append((f"fix_{attempt}_limit_wait_s", attempts.limit_waited))
        self.user_properties.append((f"fix_{attempt}_for", why))
        self.user_properties.append((f"fix_{attempt}_log", shown(log, settings.project_dir)))
        self.user_properties.append((f"fix_{attempt}_outcome", failure.reason if failure else "ok"))
        if attempts.cost:
            self.user_properties.append((f"fix_{attempt}_cost_usd", round(attempts.cost, 6)))

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
        if self.step.local_id in self.run.plan.push_only:
            self.push_pending()
            return
        if settings.dry_run:
            what = "commit and push" if settings.push else "commit"
            self.user_properties.append(("dry_run", f"would {what} the phase"))
            return
        if not settings.commit:
            raise pytest.skip.Exception(
                "commit turned off by --roadmap-no-commit", _use_item_location=True
            )
        _isolated(nodes.local_only, self.config, self.step.label)
        from pytest_roadmap.control.lock import lock_files

        exclude = [settings.log_dir, *lock_files(settings.status_dir)]
        reports = [self.config.getoption(name, None) for name in ("xmlpath", "htmlpath")]
        reports.append(str(settings.report) if settings.report is not None else None)
        exclude += phase_commit.report_paths(settings.project_dir, reports)
        message = phase_commit.commit_message(self.run.plan, self.step.phase)
        outcome = phase_commit.commit_phase(settings.project_dir, message, exclude, settings.push)
        self.user_properties.extend(outcome.properties())
        if outcome.failure:
            raise RoadmapFailure(outcome.failure, outcome.details)

    def push_pending(self) -> None:
        """The phase was complete before the run: push what an earlier run could not."""
        if self.run.settings.dry_run:
            self.user_properties.append(("dry_run", "would push commits not pushed yet"))
            return
        outcome = phase_commit.push_pending(self.run.settings.project_dir)
        if outcome is None:
            raise pytest.skip.Exception(
                f"{COMPLETE_PHASE}; nothing to push", _use_item_location=True
            )
        self.user_properties.extend(outcome.properties())
        if outcome.failure:
            raise RoadmapFailure(outcome.failure, outcome.details)


class PadItem(pytest.Item):
    """Held by an idle xdist worker so that it runs its real item at once (never reported)."""

    def runtest(self) -> None:  # pragma: no cover - the protocol hook skips it
        pass

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "dispatch pad"
