"""Agent presets (``settings.agent``) and the hook that picks each task's agent command.

A preset says how to start one kind of coding agent headless: its binary, its
command line, whether the prompt goes on stdin, and how its output tells success
from failure. One module each, as xdist keeps one scheduler per file: ``claude``
(:mod:`~pytest_roadmap.agents.claude`, the default), ``codex`` (OpenAI's Codex CLI,
:mod:`~pytest_roadmap.agents.codex`) and ``command`` (``settings.agent_command``,
:mod:`~pytest_roadmap.agents.command`). :func:`command_for` asks the
``pytest_roadmap_agent_command`` hook, whose last implementation (the plugin's own)
returns the preset's command.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from pytest_roadmap.agents import models
from pytest_roadmap.agents.claude import claude_command
from pytest_roadmap.agents.codex import CODEX_BIN
from pytest_roadmap.agents.codex import CODEX_INSTALL_HINT
from pytest_roadmap.agents.codex import codex_command
from pytest_roadmap.agents.command import user_command
from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.context import run_key
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import Settings

__all__ = ["PRESETS", "check_preset", "command_for", "describe", "hooked", "preset_command"]

OWN_PLUGIN = "pytest_roadmap.plugin"

PresetBuilder = Callable[[Settings, Step, str, Path, Path, str | None], AgentCommand]


# -- the hook ------------------------------------------------------------------------------------


def command_for(
    config: pytest.Config,
    step: Step,
    prompt: str,
    log: Path,
    *,
    resume: str | None = None,
    cwd: Path | None = None,
    model: str | Literal["chosen"] | None = "chosen",
) -> AgentCommand:
    """How to start the agent of ``step``: the first ``pytest_roadmap_agent_command`` answer.

    ``resume`` is the session of an earlier, unfinished attempt; ``cwd`` where the
    agent works (default: the project directory); ``model`` the agent's model (default:
    the task's, its group's or the run's), passed on unless a hook gave the command.
    """
    settings = config.stash[run_key].settings
    assert step.task is not None
    command = config.hook.pytest_roadmap_agent_command(
        config=config,
        step=step,
        task=step.task,
        prompt=prompt,
        log=log,
        cwd=cwd or settings.project_dir,
        resume=resume,
    )
    if not isinstance(command, AgentCommand):
        raise TypeError(f"pytest_roadmap_agent_command returned {command!r}, not an AgentCommand")
    chosen = models.model_for(settings, step) if model == "chosen" else model
    return command if hooked(config) else models.with_model(command, settings.agent, chosen)


def hooked(config: pytest.Config) -> bool:
    """True when a conftest.py or another plugin implements ``pytest_roadmap_agent_command``.

    Then the preset's binary is not checked before the run: the hook may never use it.
    """
    hook = getattr(config.hook, "pytest_roadmap_agent_command", None)
    if hook is None:
        return False
    return any(
        getattr(impl.plugin, "__name__", None) != OWN_PLUGIN for impl in hook.get_hookimpls()
    )


# -- presets -------------------------------------------------------------------------------------


def preset_command(
    settings: Settings,
    step: Step,
    prompt: str,
    log: Path,
    cwd: Path,
    resume: str | None = None,
) -> AgentCommand:
    """The command of the preset chosen with ``settings.agent``."""
    return PRESETS[settings.agent](settings, step, prompt, log, cwd, resume)


PRESETS: dict[str, PresetBuilder] = {
    "claude": claude_command,
    "codex": codex_command,
    "command": user_command,
}


def check_preset(settings: Settings) -> None:
    """Before the run: the preset's binary exists (claude and command: see preflight)."""
    if settings.agent == "codex" and shutil.which(settings.agent_bin or CODEX_BIN) is None:
        raise pytest.UsageError(CODEX_INSTALL_HINT)


def describe(settings: Settings) -> str:
    """The agent, for the report header."""
    if settings.agent == "command" and settings.agent_command:
        return settings.agent_command
    if settings.agent == "codex":
        found = shutil.which(settings.agent_bin or CODEX_BIN)
        return f"codex ({found or 'not found'})"
    return f"claude ({settings.claude_bin or 'not found'})"
