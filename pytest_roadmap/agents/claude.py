"""The ``claude`` preset: Claude Code headless, its output read as stream-json."""

from __future__ import annotations

from pathlib import Path

from pytest_roadmap.agents.permissions import permission_args
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import task_env
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings

CLAUDE_HEADLESS = ("-p", "--output-format", "stream-json", "--verbose")
DEFAULT_PERMISSIONS = ("--permission-mode", "bypassPermissions")


def claude_argv(settings: Settings) -> tuple[str, ...]:
    """``claude -p --output-format stream-json --verbose --permission-mode ...`` plus extras."""
    own = any(
        arg.startswith(("--permission-mode", "--dangerously")) for arg in settings.claude_args
    )
    permissions = () if own else DEFAULT_PERMISSIONS
    limits: list[str] = []
    if settings.max_turns is not None:
        limits += ["--max-turns", str(settings.max_turns)]
    if settings.max_budget_usd is not None:
        limits += ["--max-budget-usd", f"{settings.max_budget_usd:g}"]
    return (
        settings.claude_bin or "claude",
        *CLAUDE_HEADLESS,
        *permissions,
        *permission_args(settings),
        *limits,
        *settings.claude_args,
    )


def claude_command(
    settings: Settings, step: Step, prompt: str, log: Path, cwd: Path, resume: str | None
) -> AgentCommand:
    """Claude Code with the prompt on stdin; ``resume`` continues that session."""
    argv = claude_argv(settings) + (("--resume", resume) if resume else ())
    return AgentCommand(argv, cwd, task_env(step, log, resume), prompt.encode(), True)
