"""Checks before anything runs or is written: each failure is one line and exit code 4."""

from __future__ import annotations

import os
import shlex
import shutil

import pytest

from pytest_roadmap.agents import presets
from pytest_roadmap.agents.claude import claude_argv
from pytest_roadmap.control import apprise_notify
from pytest_roadmap.control import envfile
from pytest_roadmap.control import services
from pytest_roadmap.paths import shown
from pytest_roadmap.settings import CLAUDE_INSTALL_HINT
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import flag
from pytest_roadmap.settings import name
from pytest_roadmap.steps.gate import default_gates
from pytest_roadmap.workspace import git

ROOT_REFUSAL = (
    "Claude Code refuses --permission-mode bypassPermissions as root: set IS_SANDBOX=1 "
    "in the environment (in a container or VM you trust), or choose another permission "
    f"mode in {name('claude_args')}"
)


class RoadmapWarning(UserWarning):
    """Something the user should know before the run; it goes on anyway."""


def check(config: pytest.Config, settings: Settings) -> None:
    """Raise ``pytest.UsageError`` for the first thing that would stop the run."""
    if settings.status_only:
        return  # the status view only reads files: no agent, git identity or npm needed
    collect_only = bool(config.getoption("collectonly"))
    if not (settings.dry_run or collect_only or presets.hooked(config)):
        _check_agent(settings)
    apprise_notify.check(settings.notify)
    if shutil.which("git") is None:
        raise pytest.UsageError("git not found: install git and make sure it is on PATH")
    repo = git.open_repo(settings.project_dir)
    if repo is None:
        raise pytest.UsageError(f"{settings.project_dir}: {git.NOT_A_REPO}")
    gates = (
        settings.gates
        if settings.gates is not None
        else default_gates(settings.project_dir).commands
    )
    if any(_program(cmd) == "npm" for cmd in gates) and shutil.which("npm") is None:
        raise pytest.UsageError(
            "npm not found, but the gate runs npm scripts: install Node.js and npm, "
            f"or set {name('gates')} / {flag('no_gates')}"
        )
    if settings.require_env:
        _check_env(config, settings)
    problem = services.missing_compose(settings)
    if problem:
        raise pytest.UsageError(problem)
    if settings.commit and not (settings.dry_run or collect_only):
        problem = git.identity_problem(repo)
        if problem:
            raise pytest.UsageError(problem + f" (or run with {flag('no_commit')})")
    ignore = [
        shown(folder, settings.project_dir) + "/"
        for folder in (settings.status_dir, settings.log_dir)
    ]
    dirty = git.dirty_paths(repo, [*ignore, "PHASE"])
    if dirty:
        listed = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
        config.issue_config_time_warning(
            RoadmapWarning(f"uncommitted changes before the run: {listed}"), stacklevel=2
        )


def _check_env(config: pytest.Config, settings: Settings) -> None:
    problem = envfile.missing_env(settings.project_dir)
    if problem:
        raise pytest.UsageError(problem)
    example, missing = envfile.missing_keys(settings.project_dir)
    if missing:
        config.issue_config_time_warning(
            RoadmapWarning(f".env lacks keys that {example} has: {', '.join(missing)}"),
            stacklevel=2,
        )


def _check_agent(settings: Settings) -> None:
    if settings.uses_claude:
        if settings.claude_bin is None:
            raise pytest.UsageError(CLAUDE_INSTALL_HINT)
        bypass = "bypassPermissions" in claude_argv(settings)
        if bypass and os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1":
            raise pytest.UsageError(ROOT_REFUSAL)
        return
    if settings.agent != "command":
        presets.check_preset(settings)
        return
    assert settings.agent_command is not None
    program = _program(settings.agent_command)
    if not program or shutil.which(program, path=_path_for(settings)) is None:
        raise pytest.UsageError(
            f"agent command not found: {program!r} (from {name('agent_command')})"
        )


def _path_for(settings: Settings) -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), str(settings.project_dir)])


def _program(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        return ""
    return words[0] if words else ""
