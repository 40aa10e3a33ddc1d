"""The ``command`` preset: the user's own agent command line (``settings.agent_command``)."""

from __future__ import annotations

import shlex
from pathlib import Path

from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import task_env
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings

PROMPT_FILE = "{prompt_file}"


def user_command(
    settings: Settings, step: Step, prompt: str, log: Path, cwd: Path, resume: str | None
) -> AgentCommand:
    """The command line, run without a shell; a ``{prompt_file}`` in it is replaced by a file
    holding the prompt (written next to the log), else the prompt comes on stdin.

    ``resume`` reaches the command as ``ROADMAP_RESUME_SESSION`` in its environment.
    """
    assert settings.agent_command is not None
    env = task_env(step, log, resume)
    argv = tuple(shlex.split(settings.agent_command))
    if not any(PROMPT_FILE in arg for arg in argv):
        return AgentCommand(argv, cwd, env, prompt.encode(), True)
    prompt_file = log.with_suffix(".prompt.md")
    if not settings.dry_run:
        prompt_file.parent.mkdir(parents=True, exist_ok=True)
        prompt_file.write_text(prompt, encoding="utf-8")
    argv = tuple(arg.replace(PROMPT_FILE, str(prompt_file)) for arg in argv)
    return AgentCommand(argv, cwd, env, None, True)
