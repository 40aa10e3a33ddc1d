"""Hooks of pytest-roadmap that a ``conftest.py`` or another plugin may implement."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_roadmap.agent import AgentCommand
    from pytest_roadmap.plan import Step
    from pytest_roadmap.roadmap import Task


@pytest.hookspec(firstresult=True)
def pytest_roadmap_agent_command(
    config: pytest.Config,
    step: Step,
    task: Task,
    prompt: str,
    log: Path,
    cwd: Path,
    resume: str | None,
) -> AgentCommand | None:
    """Return how to start the coding agent of one task, or None to leave it to the next.

    Called for every agent start: a task, its retries, and the repair agent of a
    failing gate (a task with id ``fix1``, ``fix2``...). The first non-None result
    wins; the plugin's own implementation runs last and starts the preset chosen
    with ``--roadmap-agent`` (Claude Code by default).

    :param config: the pytest config; ``config.getoption``/``getini`` read settings.
    :param step: the task's place in the plan: ``step.phase``, ``step.group``,
        ``step.label``.
    :param task: the task: ``task.id``, ``task.title``, ``task.text``.
    :param prompt: the full prompt for the agent (a short "continue" prompt when
        ``resume`` is set).
    :param log: the log file the agent's output goes to; files of your own can go
        next to it (``log.with_suffix(".prompt.md")``).
    :param cwd: the directory the agent must work in: the project, or the task's
        git worktree with ``roadmap_isolation = worktree``.
    :param resume: the session id of an earlier, unfinished attempt of this task to
        continue, else None.
    :returns: an :class:`pytest_roadmap.agent.AgentCommand`. Its argv runs without
        a shell; ``stdin`` (bytes) is written to the agent and closed;
        ``reads_stream_json`` reads Claude Code ``stream-json`` lines from its output,
        and ``translate_event`` maps another agent's JSON lines to those. The task
        passes when the agent exits with code 0 (and no error result event came).
        :func:`pytest_roadmap.agents.task_env` gives the environment the presets use.

    .. versionadded:: 0.1
    """
