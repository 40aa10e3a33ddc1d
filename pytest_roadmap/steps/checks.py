"""A task's checks: red before its agent, green after it, failures sent back to its session.

Before the agent, each check runs once and its result is kept (a check that already
passes proves nothing: "no evidence"). After the agent exits 0 they run again and must
pass; when one fails, the same session is continued with the command and the end of its
output, up to the check attempts setting's rounds in all. Files the checks name are
fingerprinted before the agent: a round that changed or deleted one fails, whatever the
check says, and the file is put back (unless the task may edit its checks setting allows it).
Every check run is bounded by the task timeout and logged in the task's log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_roadmap import segments
from pytest_roadmap.agents import models
from pytest_roadmap.agents.attempts import continue_prompt
from pytest_roadmap.agents.presets import command_for
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.shell import CommandResult
from pytest_roadmap.agents.shell import run_commands
from pytest_roadmap.agents.stream import AgentFailure
from pytest_roadmap.agents.stream import AgentResult
from pytest_roadmap.context import run_key
from pytest_roadmap.model.checks import check_commands
from pytest_roadmap.model.checks import check_files
from pytest_roadmap.model.evidence import FAILED
from pytest_roadmap.model.evidence import PASSED
from pytest_roadmap.model.evidence import CheckFacts
from pytest_roadmap.model.facts import AgentFacts
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.settings import Settings
from pytest_roadmap.steps.gate import NPM_GATES
from pytest_roadmap.steps.gate import default_gates
from pytest_roadmap.workspace.changed import Stamps
from pytest_roadmap.workspace.changed import changed_since
from pytest_roadmap.workspace.changed import stamps

__all__ = [
    "TaskChecks",
    "checks_text",
    "collect_lines",
    "default_test_command",
    "dry_run_note",
    "task_commands",
]

#: files that make a project a Python one, for the default test command
PYTHON_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini")
#: lines of a failing check's output quoted to its session
OUTPUT_LINES = 60

CHECK_FAILED_TEMPLATE = """\
Continue Phase {phase_number}, Group {group_id}, Task {task_id}: {task_title}

Your task is not done yet: {what}
{output}
Fix your work so that every one of these passes:
{check_list}

Do not delete, skip or weaken a check or a test to make it pass. The same rules apply: \
work only on task {task_id}, do not commit or push, and end with a short summary of what \
you changed.
"""

Attempt = Callable[[AgentCommand, Path], tuple[AgentResult, AgentFailure | None]]


def default_test_command(project_dir: Path) -> str:
    """``npm test -- {tests}`` in a JavaScript project (a package.json and no Python project
    file), else ``python -m pytest {tests}`` with the Python that runs pytest."""
    python = any((project_dir / name).exists() for name in PYTHON_PROJECT_FILES)
    if (project_dir / "package.json").is_file() and not python:
        return "npm test -- {tests}"
    return f"{shlex.quote(sys.executable)} -m pytest {{tests}}"


def task_commands(settings: Settings, task: Task) -> tuple[tuple[str, ...], int]:
    """A task's check command lines and how many of them are its own (the rest are the
    run-wide task checks); none with the no-checks setting."""
    if settings.no_checks or not (task.checks or settings.task_checks):
        return (), 0
    test_command = settings.test_command or ""
    if not test_command and any(check.is_test for check in task.checks):
        test_command = default_test_command(settings.project_dir)
    own = check_commands(task.checks, test_command, (), task.id)
    every = check_commands(task.checks, test_command, settings.task_checks, task.id)
    return every, len(own)


def task_gate(settings: Settings) -> tuple[str, ...]:
    """With worktree isolation: the commands run in a task's worktree after its checks
    (the task gate setting, else the group's gate commands); none otherwise."""
    if settings.isolation != "worktree" or settings.no_gates or settings.dry_run:
        return ()
    if settings.task_gate is not None:
        return settings.task_gate
    if settings.gates is not None:
        return settings.gates
    return default_gates(settings.project_dir).commands


def _gate_may_repair(settings: Settings) -> bool:
    """In the shared tree: the group's gate has commands and may start a repair agent (who
    is then told the suspects); only then does a task note the files it changed."""
    if settings.isolation != "shared" or settings.no_gates or not settings.fix_attempts:
        return False
    return bool(settings.gates or default_gates(settings.project_dir).commands)


def task_check_count(settings: Settings, step: Step) -> int:
    """How many check commands the task of ``step`` has (cheap: nothing is run)."""
    if step.task is None:
        return 0
    gate = 0
    if settings.isolation == "worktree" and not settings.no_gates:  # at most
        gate = len(settings.task_gate or settings.gates or ()) or len(NPM_GATES)
    if settings.no_checks:
        return gate
    return len(step.task.checks) + len(settings.task_checks) + gate


def checks_text(commands: Sequence[str]) -> str:
    """The ``{checks}`` of a prompt: what proves the task done, or nothing."""
    if not commands:
        return ""
    listed = "\n".join(f"- `{command}`" for command in commands)
    return (
        "\nYour task is done when these pass (they run in your working directory when you "
        f"finish):\n{listed}\n"
    )


def dry_run_note(commands: Sequence[str]) -> str:
    """What a dry run adds to a task's line: its checks."""
    return "; checks: " + ", ".join(f"`{c}`" for c in commands) if commands else ""


def collect_lines(settings: Settings, tasks: Sequence[Task]) -> list[str]:
    """``--collect-only``: each task's checks, one line per task that has any."""
    lines = []
    for task in tasks:
        commands, _ = task_commands(settings, task)
        if commands:
            lines.append(f"{task.id} checks: " + "; ".join(f"`{c}`" for c in commands))
    return lines


@dataclass(frozen=True)
class _Failed:
    """Why a round's checks failed: the task's reason, what its session is told."""

    reason: str
    what: str
    output: str = ""
    #: the check's own output, for the task's failure
    tail: str = ""


def _how(result: CommandResult, timeout: float) -> str:
    if result.timed_out:
        return f"timed out after {timeout:g}s"
    if result.exit_code is None:
        return "could not be started"
    return f"exited {result.exit_code}"


def _fingerprint(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class TaskChecks:
    """The checks of one task's run, in its working directory, logged in its log."""

    def __init__(
        self,
        item: pytest.Item,
        step: Step,
        facts: StepFacts,
        commands: Sequence[str],
        own: int,
        cwd: Path,
        log: Path,
        gate: Sequence[str] = (),
    ) -> None:
        assert step.task is not None
        self.item, self.step, self.task, self.step_facts = item, step, step.task, facts
        self.settings: Settings = item.config.stash[run_key].settings
        self.cwd, self.log = cwd, log
        self.facts = CheckFacts(commands=list(commands), own=own, gate=list(gate))
        if commands or gate:
            facts.checks = self.facts
        self.named = [name for command in commands for name in check_files(command)]
        #: check file -> (its bytes, their digest) before the agent
        self.originals: dict[str, tuple[bytes, str]] = {}
        #: check files that did not exist before the agent
        self.missing: list[str] = []
        #: the shared tree's changed files before the agent (workspace/changed.py)
        self.stamps: Stamps | None = None

    # -- running ---------------------------------------------------------------------------

    def run_one(self, command: str, when: str) -> CommandResult:
        """One check, bounded by the task timeout, its output appended to the task's log."""
        start = time.time()
        [result] = run_commands([command], self.cwd, self.log, self.settings.task_timeout)
        how = "passed" if result.ok else _how(result, self.settings.task_timeout)
        segments.record(self.item, "check", start, time.time(), f"{when}: `{command}` {how}")
        return result

    def changed(self) -> list[str] | None:
        """In the shared tree: the files changed while the task ran (None elsewhere)."""
        if self.stamps is None:
            return None
        return changed_since(self.stamps, self.cwd)

    def before(self) -> None:
        """Fingerprint the check files, then run every check once and keep the results."""
        if _gate_may_repair(self.settings):
            self.stamps = stamps(self.cwd)
        if not self.settings.task_may_edit_checks:
            for name in self.named:
                path = self.cwd / name
                if path.is_file():
                    data = path.read_bytes()
                    self.originals[name] = (data, hashlib.sha256(data).hexdigest())
        existing = [name for name in self.named if (self.cwd / name).exists()]
        self.missing = [name for name in self.named if name not in existing]
        self.facts.before = [
            PASSED if self.run_one(c, "before").ok else FAILED for c in self.facts.commands
        ]

    def after(self) -> _Failed | None:
        """Check the check files, then run the checks until one fails."""
        self.facts.created = [name for name in self.missing if (self.cwd / name).exists()]
        tampered = self.restore()
        if tampered:
            self.facts.after = []
            files = ", ".join(tampered)
            reason = f"{self.task.id} changed its check file {files}"
            what = f"{reason}: restore it and do the task (the original was put back; leave it)."
            return _Failed(reason, what, "")
        self.facts.after, self.facts.gate_after = [], []
        failed = self.run_all(self.facts.commands, self.facts.after, "check", "its check")
        if failed is None:
            what = "the group's gate command"
            failed = self.run_all(self.facts.gate, self.facts.gate_after, "task gate", what)
        return failed

    def run_all(
        self, commands: Sequence[str], results: list[str], kind: str, what: str
    ) -> _Failed | None:
        """Run ``commands`` until one fails (its failure returned); their results in order."""
        for command in commands:
            result = self.run_one(command, "after" if kind == "check" else kind)
            results.append(PASSED if result.ok else FAILED)
            if not result.ok:
                how = _how(result, self.settings.task_timeout)
                tail = "\n".join(result.tail.rstrip().splitlines()[-OUTPUT_LINES:])
                return _Failed(
                    f"{kind} failed: `{command}` {how}",
                    f"{what} `{command}` {how}. The end of its output:",
                    f"\n```\n{tail}\n```\n",
                    result.tail,
                )
        return None

    def restore(self) -> list[str]:
        """Check files changed or deleted since the agent started, each put back."""
        changed = []
        for name, (data, digest) in self.originals.items():
            path = self.cwd / name
            if _fingerprint(path) != digest:
                changed.append(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        for name in changed:
            if name not in self.facts.tampered:
                self.facts.tampered.append(name)
        return changed

    # -- rounds ----------------------------------------------------------------------------

    def rounds(
        self, attempt: Attempt, command: AgentCommand, result: AgentResult
    ) -> tuple[AgentResult, AgentFailure | None]:
        """After an agent that exited well: the checks, and further rounds while they fail."""
        self.facts.rounds = 1
        while True:
            failed = self.after()
            if failed is None:
                self.step_facts.warnings += self.facts.no_evidence(self.task.id)
                return result, None
            if self.facts.rounds >= self.settings.check_attempts:
                tail = failed.tail or failed.what
                return dataclasses.replace(result, tail=tail), AgentFailure(failed.reason, False)
            self.facts.rounds += 1
            earlier = self.step_facts.agent
            result, failure = attempt(self.next_command(command, result, failed), self.log)
            _add_up(earlier, self.step_facts.agent)
            if failure is not None:
                return result, failure

    def next_command(
        self, command: AgentCommand, result: AgentResult, failed: _Failed
    ) -> AgentCommand:
        """The session continued with the failure; a new run when there is no session."""
        step = self.step
        assert step.group is not None
        values = prompt_values(self.settings.roadmap.name, step.phase, step.group, self.task)
        values.update(
            what=failed.what,
            output=failed.output,
            check_list="\n".join(f"- `{c}`" for c in self.facts.commands + self.facts.gate),
        )
        prompt = render(CHECK_FAILED_TEMPLATE, values)
        session = result.session_id
        if not session:
            prompt = continue_prompt(self.item.config, step, failed.reason) + "\n" + prompt
        model = models.next_round(self.settings, step, command.model) or command.model
        return command_for(
            self.item.config, step, prompt, self.log, resume=session, cwd=command.cwd, model=model
        )


def _add_up(earlier: AgentFacts | None, latest: AgentFacts | None) -> None:
    """Cost, turns, time and retries of the earlier rounds added to the latest round's."""
    if earlier is None or latest is None:
        return
    if earlier.cost_usd is not None or latest.cost_usd is not None:
        latest.cost_usd = round((earlier.cost_usd or 0.0) + (latest.cost_usd or 0.0), 6)
    if earlier.num_turns is not None or latest.num_turns is not None:
        latest.num_turns = (earlier.num_turns or 0) + (latest.num_turns or 0)
    latest.duration_s = round(earlier.duration_s + latest.duration_s, 3)
    latest.retry_reasons = earlier.retry_reasons + latest.retry_reasons
    latest.session_id = latest.session_id or earlier.session_id
