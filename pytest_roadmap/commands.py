"""The command line that starts a task's agent: Claude Code, or the user's own."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from pytest_roadmap.agent import AgentCommand
from pytest_roadmap.agent import child_env
from pytest_roadmap.plan import Step
from pytest_roadmap.settings import Settings

CLAUDE_HEADLESS = ("-p", "--output-format", "stream-json", "--verbose")
DEFAULT_PERMISSIONS = ("--permission-mode", "bypassPermissions")
PROMPT_FILE = "{prompt_file}"


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
        *limits,
        *settings.claude_args,
    )


def task_env(step: Step, log: Path, resume: str | None = None) -> dict[str, str]:
    """The agent's environment: ours without Claude Code's nesting guard, plus ROADMAP_*."""
    assert step.group is not None and step.task is not None
    extra = {
        "ROADMAP_TASK_ID": step.task.id,
        "ROADMAP_GROUP": step.group.id,
        "ROADMAP_PHASE": str(step.phase.number),
        "ROADMAP_LOG": str(log),
    }
    if resume:
        extra["ROADMAP_RESUME_SESSION"] = resume
    return child_env(os.environ, extra)


def agent_command(
    settings: Settings,
    step: Step,
    prompt: str,
    log: Path,
    *,
    resume: str | None = None,
    cwd: Path | None = None,
) -> AgentCommand:
    """How to start the agent of ``step``; a ``{prompt_file}`` is written next to the log.

    ``resume`` is the session id of an earlier, unfinished attempt: Claude Code gets
    ``--resume <id>``, other agents ``ROADMAP_RESUME_SESSION`` in their environment.
    ``cwd`` is where the agent works (its worktree); default: the project directory.
    """
    where = cwd or settings.project_dir
    env = task_env(step, log, resume)
    if settings.agent_command is None:
        argv = claude_argv(settings) + (("--resume", resume) if resume else ())
        return AgentCommand(argv, where, env, prompt.encode(), True)
    argv = tuple(shlex.split(settings.agent_command))
    if not any(PROMPT_FILE in arg for arg in argv):
        return AgentCommand(argv, where, env, prompt.encode(), True)
    prompt_file = log.with_suffix(".prompt.md")
    if not settings.dry_run:
        prompt_file.parent.mkdir(parents=True, exist_ok=True)
        prompt_file.write_text(prompt, encoding="utf-8")
    argv = tuple(arg.replace(PROMPT_FILE, str(prompt_file)) for arg in argv)
    return AgentCommand(argv, where, env, None, True)
