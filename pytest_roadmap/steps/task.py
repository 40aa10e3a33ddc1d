"""A task item's run: its workspace, its prompt (or a session to continue), its agent."""

from __future__ import annotations

import dataclasses
import functools
import shlex
import time
from pathlib import Path

import pytest

from pytest_roadmap.agents import models
from pytest_roadmap.agents.attempts import Attempts
from pytest_roadmap.agents.attempts import continue_prompt
from pytest_roadmap.agents.presets import command_for
from pytest_roadmap.agents.prompt import load_template
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.stream import AgentFailure
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.dist import nodes
from pytest_roadmap.model.facts import RESULT_TEXT_LIMIT
from pytest_roadmap.model.facts import AgentFacts
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.facts import WorkspaceFacts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import log_name
from pytest_roadmap.model.plan import task_digest
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.paths import shown
from pytest_roadmap.steps import checks
from pytest_roadmap.steps import culprit
from pytest_roadmap.steps.base import StepRun
from pytest_roadmap.steps.failure import RoadmapFailure
from pytest_roadmap.steps.failure import failure_details
from pytest_roadmap.steps.failure import isolated
from pytest_roadmap.steps.kept_tests import TestGuard
from pytest_roadmap.workspace import clone
from pytest_roadmap.workspace import worktree
from pytest_roadmap.workspace.worktree import TaskWorkspace

__all__ = ["TaskRun"]


class TaskRun(StepRun):
    """Runs the agent of one task for its item, and fills in the item's facts."""

    def __init__(self, item: pytest.Item, step: Step, facts: StepFacts) -> None:
        assert step.group is not None and step.task is not None
        super().__init__(item, step, facts)

    def record(self) -> TaskRecord:
        """What the task's last run left (an empty record when none)."""
        step, records = self.step, self.run_state.records
        if records is None:
            return TaskRecord()
        assert step.group is not None and step.task is not None
        return records.get(task_key(step.phase, step.group, step.task))

    def prompt(self) -> str:
        """The prompt for this task's agent."""
        step = self.step
        assert step.group is not None and step.task is not None
        values = prompt_values(self.settings.roadmap.name, step.phase, step.group, step.task)
        values["checks"] = checks.checks_text(checks.task_commands(self.settings, step.task)[0])
        return render(load_template(self.settings.prompt_template), values)

    def session_to_resume(self) -> str | None:
        """The session of this task's unfinished attempt in an earlier run: one a usage limit
        stopped (it continues by default), or with ``settings.resume_sessions`` any."""
        assert self.step.task is not None
        record = self.record()
        if self.settings.resume_sessions:
            unfinished = record.outcome in ("failed", "interrupted")
        else:
            unfinished = record.outcome == "interrupted" and record.limit_type is not None
        current = record.digest == task_digest(self.step.task)
        return record.session_id if unfinished and current and record.session_id else None

    def continue_prompt(self) -> str:
        """The short prompt of a resumed session."""
        reason = self.record().failure or "it did not finish"
        return continue_prompt(self.config, self.step, reason)

    @property
    def remote(self) -> bool:
        """Run on a worker outside the controller's repository (see dist/nodes.py)."""
        return nodes.is_remote(self.config)

    def workspace(self, log: Path) -> TaskWorkspace | None:
        """With worktree isolation: the task's own worktree and branch, made or reused.

        On a remote worker: the worker's clone, on the task's branch.
        """
        settings = self.settings
        if settings.dry_run:
            return None
        if self.remote:
            self.facts.worker = nodes.worker_id(self.config)
            made = isolated(clone.prepare_task, nodes.origin(self.config), settings, self.step)
        elif settings.isolation != "worktree":
            return None
        else:
            made = isolated(worktree.prepare_task, settings, self.step, log)
        self.facts.workspace = WorkspaceFacts(
            made.branch, str(made.path), made.base, reused=not made.created
        )
        return made

    def run(self) -> None:
        """The task: its agent in its workspace, then its work committed there."""
        settings, step = self.settings, self.step
        assert step.task is not None
        log = settings.log_dir / log_name(step.phase, step.group, step.task.id, time.time())
        resume = self.session_to_resume()
        prompt = self.continue_prompt() if resume else self.prompt()
        workspace = self.workspace(log)
        cwd = workspace.cwd if workspace else worktree.planned_cwd(settings, step)
        model = models.round_model(self.settings, step, self.record())
        command = command_for(self.config, step, prompt, log, resume=resume, cwd=cwd, model=model)
        self.facts.resumed_session = resume
        commands, own = checks.task_commands(settings, step.task)
        if settings.dry_run:
            first_line = self.prompt().splitlines()[0]
            self.facts.dry_run = (
                f"would run: {shlex.join(command.argv)} in {command.cwd}: {first_line}"
                + checks.dry_run_note(commands)
            )
            return
        gate = checks.task_gate(settings) if workspace is not None else ()
        proof = checks.TaskChecks(self.item, step, self.facts, commands, own, cwd, log, gate)
        tests = TestGuard(self, cwd)
        try:
            proof.before()
            result, failure = self.attempts(command, log)
            if failure is None and (commands or gate):
                result, failure = proof.rounds(self.attempts, command, result)
        except BaseException:  # interrupted: keep the agent's work on its branch
            if workspace is not None:
                worktree.save_work(workspace, step, "interrupted")
            raise
        finally:
            if self.remote:  # the controller writes it to its log directory
                self.facts.shipped_log = nodes.ship_log(log)
        if failure is not None and self.remote:
            where = nodes.worker_id(self.config)
            failure = dataclasses.replace(failure, reason=f"{where}: {failure.reason}")
        if failure is not None:
            self.facts.failure = failure.reason
            self.facts.systemic = failure.systemic
            raise RoadmapFailure(
                failure.reason, failure_details(log, settings.project_dir, result.tail)
            )
        again = functools.partial(self.continue_agent, result, log, cwd)
        tests.enforce(f"{step.task.id}'s agent", self.facts, again)
        if workspace is not None:
            self.commit(workspace)
        culprit.note_task(self.config, step, result.session_id, proof.changed())

    def continue_agent(self, result: AgentResult, log: Path, cwd: Path, prompt: str) -> None:
        """Continue the agent's session (a new one when it had none) with ``prompt``."""
        command = command_for(
            self.config, self.step, prompt, log, resume=result.session_id, cwd=cwd
        )
        attempts = Attempts(self.item, self.step, log, retries=0)
        attempts.run(command)
        if self.facts.agent is not None and attempts.cost:
            self.facts.agent.cost_usd = round((self.facts.agent.cost_usd or 0) + attempts.cost, 6)

    def attempts(self, command: AgentCommand, log: Path) -> tuple[AgentResult, AgentFailure | None]:
        """Run the agent through retries and usage-limit waits (see agents/attempts.py).

        The facts get the last attempt's outcome, the cost and waits of all attempts.
        """
        attempts = Attempts(self.item, self.step, log, self.settings.retries)
        try:
            result, failure = attempts.run(command)
        finally:
            self.facts.agent = AgentFacts(
                log=shown(log, self.settings.project_dir),
                retry_reasons=list(attempts.retry_reasons),
                peak_rss_mb=round(attempts.peak_rss / 2**20, 1) if attempts.peak_rss else None,
                limit_type=(attempts.limit.kind or "unknown") if attempts.limit else None,
                limit_wait_s=round(attempts.limit_waited, 1) if attempts.limit else None,
            )
        agent = self.facts.agent
        agent.exit_code = result.exit_code
        agent.duration_s = round(result.duration, 3)
        agent.num_turns = result.num_turns
        agent.session_id = result.session_id
        agent.result = (result.result_text or "")[:RESULT_TEXT_LIMIT] or None
        agent.cost_usd = round(attempts.cost, 6) if attempts.cost else None
        agent.model, agent.chosen_model = result.model or attempts.model, attempts.model
        if failure is not None and result.usage_limit is not None:
            self.facts.limit_stop = failure.reason
        return result, failure

    def commit(self, workspace: TaskWorkspace) -> None:
        """Commit the agent's work on its branch (and, on a remote worker, push it)."""
        assert self.facts.workspace is not None
        if self.remote:
            origin = nodes.origin(self.config)
            self.facts.workspace.commit = isolated(clone.commit_task, origin, workspace, self.step)
            self.facts.workspace.pushed = isolated(
                clone.push_task, origin, self.settings, workspace
            )
        else:
            self.facts.workspace.commit = isolated(worktree.commit_task, workspace, self.step)
