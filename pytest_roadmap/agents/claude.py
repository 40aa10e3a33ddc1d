"""The ``claude`` preset: Claude Code headless, its output read as stream-json."""

from __future__ import annotations

from pathlib import Path

from pytest_roadmap.agents.guard import guard_args
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import task_env
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings

CLAUDE_HEADLESS = ("-p", "--output-format", "stream-json", "--verbose")
DEFAULT_PERMISSIONS = ("--permission-mode", "bypassPermissions")
#: the groups' status pages, in the project's directory (control/state.py)
STATUS_MARKDOWN = "PHASE*-GROUP-*-STATUS.md"


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
        *orchestrator_files_denied(settings),
        *limits,
        *guard_args(settings),
        *settings.claude_args,
    )


def orchestrator_files_denied(settings: Settings) -> tuple[str, ...]:
    """``--disallowedTools`` rules: no Edit or Write of the roadmap or the status files
    (the status directory, the groups' status pages).

    Checked with the real CLI: the rules hold under ``--permission-mode bypassPermissions``
    (the tool call ends in "denied by your permission settings"). They do not cover Bash;
    the run puts back a changed roadmap in any case (control/roadmap_guard.py).
    """
    rules = []
    for path, pattern in ((settings.roadmap, ""), (settings.status_dir, "/**")):
        try:
            relative = path.absolute().relative_to(settings.project_dir.absolute()).as_posix()
        except ValueError:
            continue  # outside the project: the agent's relative rules cannot name it
        if relative != ".":
            rules += [f"Edit(./{relative}{pattern})", f"Write(./{relative}{pattern})"]
    rules += [f"Edit(./{STATUS_MARKDOWN})", f"Write(./{STATUS_MARKDOWN})"]
    return ("--disallowedTools", *rules)


def claude_command(
    settings: Settings, step: Step, prompt: str, log: Path, cwd: Path, resume: str | None
) -> AgentCommand:
    """Claude Code with the prompt on stdin; ``resume`` continues that session."""
    argv = claude_argv(settings) + (("--resume", resume) if resume else ())
    return AgentCommand(argv, cwd, task_env(step, log, resume), prompt.encode(), True)
