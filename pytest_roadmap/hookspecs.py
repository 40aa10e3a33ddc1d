"""Hooks of pytest-roadmap that a ``conftest.py`` or another plugin may implement."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_roadmap.agents.run import AgentCommand
    from pytest_roadmap.model.plan import Step
    from pytest_roadmap.model.roadmap import Task


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
    with ``settings.agent`` (Claude Code by default).

    :param config: the pytest config; ``config.getoption``/``getini`` read settings.
    :param step: the task's place in the plan: ``step.phase``, ``step.group``,
        ``step.label``.
    :param task: the task: ``task.id``, ``task.title``, ``task.text``.
    :param prompt: the full prompt for the agent (a short "continue" prompt when
        ``resume`` is set).
    :param log: the log file the agent's output goes to; files of your own can go
        next to it (``log.with_suffix(".prompt.md")``).
    :param cwd: the directory the agent must work in: the project, or the task's
        git worktree in worktree isolation.
    :param resume: the session id of an earlier, unfinished attempt of this task to
        continue, else None.
    :returns: an :class:`pytest_roadmap.agents.run.AgentCommand`. Its argv runs without
        a shell; ``stdin`` (bytes) is written to the agent and closed;
        ``reads_stream_json`` reads Claude Code ``stream-json`` lines from its output,
        and ``translate_event`` maps another agent's JSON lines to those. The task
        passes when the agent exits with code 0 (and no error result event came).
        :func:`pytest_roadmap.agents.run.task_env` gives the environment the presets use.

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_roadmap_notify(
    config: pytest.Config, event: str, message: str, phase: int | None, group: str | None
) -> None:
    """Called in the controlling process on each event of the run, in order.

    :param event: ``group_passed``, ``group_failed``, ``phase_committed``, ``limit_wait``
        (the run waits for a usage limit to reset), ``limit_resumed``, ``run_stopped``
        (a systemic agent failure, the run budget, a usage limit too far away) or
        ``run_finished`` (its message has the passed and failed counts and the cost),
        ``push_failed`` (a phase's commit is kept locally; the run goes on) or
        ``pushed_late`` (a later push took the commits an earlier one could not).
    :param message: one line saying what happened, e.g. ``Phase 1 Group A passed: 3 tasks``.
    :param phase: the phase's number, where the event has one, else None.
    :param group: the group's id, where the event has one, else None.

    The plugin's own implementation runs the ``settings.notify`` commands. Keep yours
    quick: the controller waits for it.

    .. versionadded:: 0.2
    """
