"""A group's gate: which commands, running them, and repair agents when they fail."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_roadmap import segments
from pytest_roadmap.agents import gate_jobs
from pytest_roadmap.agents.attempts import Attempts
from pytest_roadmap.agents.gate_jobs import failures_text
from pytest_roadmap.agents.presets import command_for
from pytest_roadmap.agents.prompt import MERGE_TEMPLATE
from pytest_roadmap.agents.prompt import REPAIR_TEMPLATE
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.shell import CommandResult
from pytest_roadmap.dist import nodes
from pytest_roadmap.model.facts import CommandFacts
from pytest_roadmap.model.facts import RepairFacts
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import log_name
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import shown
from pytest_roadmap.steps import culprit
from pytest_roadmap.steps.base import StepRun
from pytest_roadmap.steps.failure import RoadmapFailure
from pytest_roadmap.steps.failure import failure_details
from pytest_roadmap.steps.failure import isolated
from pytest_roadmap.steps.kept_tests import TestGuard
from pytest_roadmap.steps.kept_tests import changed_tests_text
from pytest_roadmap.workspace import clone
from pytest_roadmap.workspace import worktree
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import changes_since_commit

#: The bash script's gate, in its order: (npm script, command line).
NPM_GATES = (
    ("typecheck", "npm run typecheck"),
    ("lint", "npm run lint"),
    ("test", "npm test"),
    ("build", "npm run build"),
)


@dataclass(frozen=True)
class DefaultGates:
    """The npm gate commands whose scripts exist, and the scripts that are missing."""

    commands: tuple[str, ...]
    missing: tuple[str, ...]
    note: str


def default_gates(project_dir: Path) -> DefaultGates:
    """``npm run typecheck/lint``, ``npm test``, ``npm run build`` where package.json has them."""
    package = project_dir / "package.json"
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except FileNotFoundError:
        return DefaultGates((), (), "no package.json: no default gate commands")
    except (ValueError, AttributeError, OSError) as exc:
        return DefaultGates((), (), f"package.json unreadable ({exc}): no default gate commands")
    present = tuple(cmd for name, cmd in NPM_GATES if name in scripts)
    missing = tuple(name for name, _ in NPM_GATES if name not in scripts)
    note = "missing npm scripts: " + ", ".join(missing) if missing else ""
    return DefaultGates(present, missing, note)


class GateRun(StepRun):
    """A group's gate for its item: the task branches merged first (worktree isolation), then
    the commands; a failing command or a merge conflict goes to repair agents."""

    def __init__(self, item: pytest.Item, step: Step, facts: StepFacts) -> None:
        assert step.group is not None
        super().__init__(item, step, facts)
        #: repair agents started, on merge conflicts and on the gate: one bound for both
        self.repairs = 0

    def run(self, commands: list[str]) -> None:
        """Fetch and merge the task branches where there are any, then the commands."""
        settings, step = self.settings, self.step
        isolated_run = settings.isolation == "worktree" and not settings.dry_run
        if not settings.dry_run:  # remote workers' task branches, fetched from the remote
            isolated(nodes.local_only, self.config, step.label)
            url = isolated(nodes.group_url, self.config, step)
            if url is not None:
                self.facts.fetched = isolated(clone.fetch_group, url, settings, step)
        if isolated_run:  # the task branches first; unresolved conflicts fail the gate
            self.merge(commands)
        self.run_commands(commands)
        if isolated_run:
            self.facts.notes += isolated(worktree.remove_group, settings, step)

    def run_commands(self, commands: list[str]) -> None:
        """Run the commands; the first failing one fails the gate."""
        settings = self.settings
        flat = gate_jobs.commands_of(commands)
        self.facts.commands = [CommandFacts(command) for command in flat]
        if settings.dry_run:
            self.facts.dry_run = f"would run gate: {' && '.join(flat) or '(no commands)'}"
            return
        if not commands:
            self.facts.unchecked = True
            return
        log = settings.log_dir / log_name(self.step.phase, self.step.group, "gate", time.time())
        self.facts.log = shown(log, settings.project_dir)
        failed = self.check(commands, log)
        if failed and self.facts.merged:  # worktrees: the culprit's session first
            failed = culprit.send_back(self, commands, failed, log)
        attempts = 0
        self.tests = TestGuard(self, settings.project_dir)
        while failed and self.repairs < settings.fix_attempts:
            attempts += 1
            session = self.repair(commands, failed)
            again = functools.partial(self.continue_fixer, session)
            self.tests.enforce("the repair agent", self.facts, again)
            failed = self.check(commands, log)
        if not failed:
            return
        tails = failed[0].tail if len(failed) == 1 else failures_text(failed, self.how)
        raise RoadmapFailure(
            f"{self.step.label} failed: {self.said(failed)}{self.after(attempts)}",
            failure_details(log, settings.project_dir, tails),
        )

    def said(self, failed: list[CommandResult]) -> str:
        """``'npm test' exited with code 1, 'npm run lint' exited with code 2``."""
        return ", ".join(f"'{result.command}' {self.how(result)}" for result in failed)

    def after(self, attempts: int) -> str:
        """`` (after 2 repair attempts)``, or why there was none left; ``""`` for none."""
        if attempts:
            return f" (after {attempts} repair attempt{'s' * (attempts != 1)})"
        if self.repairs:
            return f" (no repair attempt left: {self.repairs} used on merge conflicts)"
        return ""

    def failure_values(self, failed: list[CommandResult]) -> dict[str, str]:
        """A prompt's ``{command}``, ``{how}`` and ``{output}`` for the failed commands."""
        one = len(failed) == 1
        output = failed[0].tail if one else failures_text(failed, self.how)
        return {
            "command": "` and `".join(result.command for result in failed),
            "how": self.how(failed[0]) if one else "failed",
            "output": output.strip()[-6000:],
        }

    def how(self, failed: CommandResult) -> str:
        """How a gate command failed, in a few words."""
        if failed.timed_out:
            return f"timed out after {self.settings.task_timeout:g}s"
        return f"exited with code {failed.exit_code}"

    def check(self, commands: list[str], log: Path) -> list[CommandResult]:
        """Run the gate's commands once; the failing ones (none when all passed)."""
        settings = self.settings
        with segments.span(self.item, "gate"):
            results = gate_jobs.run_gate(
                commands, settings.project_dir, log, settings.task_timeout, settings.gate_jobs
            )
        for facts, result in zip(self.facts.commands, results, strict=False):
            facts.exit_code = result.exit_code
            facts.duration_s = round(result.duration, 3)
        return [result for result in results if not result.ok]

    def repair(self, checks: list[str], failed: list[CommandResult]) -> str | None:
        """Start one repair agent on the failing gate: every failed command at once; its
        session."""
        assert self.step.group is not None
        values = {
            **self.group_values(checks),
            **self.failure_values(failed),
            "diff": changes_since_commit(self.settings.project_dir),
            "tests_changed": changed_tests_text(self.tests.changed_in_group()),
        }
        why = f"gate: {self.said(failed)}"
        title = f"Repair the gate of Group {self.step.group.id}"
        prompt = render(REPAIR_TEMPLATE, values) + culprit.suspects_text(self, failed)
        return self.start_fixer(title, why, prompt)

    def merge(self, commands: list[str]) -> None:
        """Merge the task branches; conflicts go to repair agents first."""

        def resolve(conflict: worktree.MergeConflict) -> bool:
            return self.resolve_conflict(commands, conflict)

        try:
            merged = worktree.merge_group(self.settings, self.step, resolve)
        except WorkspaceError as exc:
            details = exc.details
            if self.repairs:
                tried = f"{self.repairs} repair attempt{'s' * (self.repairs != 1)}"
                logs = ", ".join(repair.log for repair in self.facts.repairs)
                details += f"\n{tried} did not resolve it: {logs}"
            raise RoadmapFailure(exc.reason, details) from None
        self.facts.merged += merged.branches
        if merged.warning:
            self.facts.warnings.append(merged.warning)

    def resolve_conflict(self, commands: list[str], conflict: worktree.MergeConflict) -> bool:
        """Start one repair agent on a merge in progress; False when no attempt is left."""
        assert self.step.group is not None
        if self.repairs >= self.settings.fix_attempts:
            return False
        values = {
            **self.group_values(commands),
            "branch": conflict.branch,
            "target": conflict.target,
            "task_id": conflict.task.id,
            "task_title": conflict.task.title,
            "files": "\n".join(f"- {path}" for path in conflict.files),
        }
        title = f"Resolve the merge conflict of Group {self.step.group.id}"
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
            "commands": "\n".join(f"- {c}" for c in gate_jobs.commands_of(commands)) or "(none)",
            "tasks": "\n".join(f"- {t.id}: {t.title}" for t in step.group.tasks),
        }

    def continue_fixer(self, session: str | None, prompt: str) -> None:
        """Continue the last repair agent's session with ``prompt``, within its attempt."""
        why = "tests: deleted or skipped"
        self.start_fixer("Repair", why, prompt, resume=session, continuing=True)

    def start_fixer(
        self, title: str, why: str, prompt: str, resume: str | None = None, continuing: bool = False
    ) -> str | None:
        """Run repair agent number N in the main tree (its own log: ..._fix<N>_<ts>.log), or
        continue the session ``resume`` as part of the same attempt; its session."""
        settings, step = self.settings, self.step
        assert step.group is not None
        self.repairs += not continuing
        attempt = self.repairs
        fixer = Task(id=f"fix{attempt}", title=title, text="", line=step.group.line, done=False)
        fix_step = Step("task", step.phase, step.group, fixer, step.ordinal)
        log = settings.log_dir / log_name(step.phase, step.group, fixer.id, time.time())
        command = command_for(self.config, fix_step, prompt, log, resume=resume)
        started = time.time()
        attempts = Attempts(self.item, fix_step, log, retries=0)
        _result, failure = attempts.run(command)
        outcome = failure.reason if failure else "ok"
        segments.record(self.item, "repair", started, time.time(), f"{fixer.id} ({why}): {outcome}")
        self.facts.repairs.append(
            RepairFacts(
                why=why,
                log=shown(log, settings.project_dir),
                outcome=outcome,
                cost_usd=round(attempts.cost, 6) if attempts.cost else None,
                limit_wait_s=attempts.limit_waited if attempts.limit is not None else None,
            )
        )
        return _result.session_id
