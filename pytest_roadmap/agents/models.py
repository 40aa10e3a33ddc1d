"""The model of each agent: chosen per task, group or run, escalated after a failed round,
and passed on the agent's command line (see :mod:`pytest_roadmap.model.models`).

Claude Code gets ``--model NAME``, Codex ``-m NAME``, the command preset ``{model}`` in its
command line (the empty string when no model is chosen). ``claude --resume <id> --model
<other>`` continues the same session on the other model (checked with Claude Code 2.1.328:
the session id stays, the new model gets the whole conversation), so an escalated task
continues its session.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import pytest

from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.model.load import load_roadmap
from pytest_roadmap.model.models import ModelError
from pytest_roadmap.model.models import escalated
from pytest_roadmap.model.models import group_model
from pytest_roadmap.model.models import task_model
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import TASK_ID_RE
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import name

__all__ = ["MODEL_PLACEHOLDER", "check", "model_for", "next_round", "round_model", "with_model"]

MODEL_PLACEHOLDER = "{model}"


def model_for(settings: Settings, step: Step) -> str | None:
    """The model ``step``'s task runs on: its own, else its group's, else the run's."""
    task, group = step.task, step.group
    assert task is not None and group is not None
    groups = _group_models(str(settings.roadmap), _mtime(settings.roadmap))
    default = groups.get((step.phase.number, group.id), settings.model)
    if TASK_ID_RE.fullmatch(task.id) is None:  # a repair agent of the group's gate
        return settings.repair_model or default
    where = f"{settings.roadmap.name}:{task.line}: task {task.id}"
    return task_model(task.text, where) or default


def round_model(settings: Settings, step: Step, record: TaskRecord) -> str | None:
    """The model of ``step``'s run now: after a failed run (``record``), the next model of
    the escalation setting's list; else :func:`model_for`."""
    chosen = model_for(settings, step)
    if record.outcome != "failed" or not settings.model_escalation:
        return chosen
    return escalated(chosen, settings.model_escalation, record.model or chosen)


def with_model(command: AgentCommand, agent: str, model: str | None) -> AgentCommand:
    """``command`` running ``model``: ``--model`` (claude), ``-m`` (codex), ``{model}``."""
    argv = command.argv
    if agent == "command":
        argv = tuple(arg.replace(MODEL_PLACEHOLDER, model or "") for arg in argv)
    elif model and agent == "claude":
        argv = (*argv, "--model", model)
    elif model and agent == "codex" and "exec" in argv:
        at = argv.index("exec") + 1
        argv = (*argv[:at], "-m", model, *argv[at:])
    return dataclasses.replace(command, argv=argv, model=model)


def next_round(settings: Settings, step: Step, current: str | None) -> str | None:
    """The model a task continues on after a failed round on ``current``: the next of the
    escalation setting's list; None at its top, without a list, or for a repair agent."""
    assert step.task is not None
    if not settings.model_escalation or TASK_ID_RE.fullmatch(step.task.id) is None:
        return None
    model = escalated(model_for(settings, step), settings.model_escalation, current)
    return None if model == current else model


def check(settings: Settings) -> None:
    """Before the run: every model a task or group names is a name (else one clear line)."""
    roadmap = load_roadmap(settings.roadmap)
    try:
        for _phase, _group, task in roadmap.tasks():
            task_model(task.text, f"{roadmap.path}:{task.line}: task {task.id}")
        _group_models(str(settings.roadmap), _mtime(settings.roadmap))
    except ModelError as exc:
        raise pytest.UsageError(str(exc)) from None
    for field in ("model", "repair_model"):
        value = getattr(settings, field)
        if value is not None:
            try:
                task_model(f"Model: {value}", f"{name(field)}")
            except ModelError as exc:
                raise pytest.UsageError(str(exc)) from None


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=4)
def _group_models(path: str, mtime: int) -> dict[tuple[int, str], str]:
    """(phase, group id) -> the model its heading or intro names, read from the file."""
    roadmap = load_roadmap(path)
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    found: dict[tuple[int, str], str] = {}
    for phase in roadmap.phases:
        for group in phase.groups:
            model = _group(phase, group, lines, Path(path).name)
            if model is not None:
                found[(phase.number, group.id)] = model
    return found


def _group(phase: Phase, group: Group, lines: list[str], file: str) -> str | None:
    heading = lines[group.line - 1] if 0 < group.line <= len(lines) else ""
    later = [g.line for g in phase.groups if g.line > group.line]
    end = min([t.line for t in group.tasks] + later + [len(lines) + 1])
    intro = lines[group.line : end - 1]
    return group_model(heading, intro, f"{file}:{group.line}: group {group.id}")
