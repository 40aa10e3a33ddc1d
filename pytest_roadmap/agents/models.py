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
from pytest_roadmap.model.models import ModelError
from pytest_roadmap.model.models import escalated
from pytest_roadmap.model.models import group_model
from pytest_roadmap.model.models import task_model
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import TASK_ID_RE
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import name

__all__ = ["MODEL_PLACEHOLDER", "check", "model_for", "next_round", "round_model", "with_model"]

MODEL_PLACEHOLDER = "{model}"


def model_for(settings: Settings, step: Step) -> str | None:
    """The model ``step``'s task runs on: its own, else its group's, else the run's."""
    task, group = step.task, step.group
    assert task is not None and group is not None
    default = _group_model(settings.roadmap, step.phase, group) or settings.model
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


def check(settings: Settings, roadmap: Roadmap) -> None:
    """Before the run: every model a task or group names is a name (else one clear line)."""
    try:
        for phase in roadmap.phases:
            for group in phase.groups:
                _group_model(settings.roadmap, phase, group)
                for task in group.tasks:
                    task_model(task.text, f"{roadmap.path}:{task.line}: task {task.id}")
        for field in ("model", "repair_model"):
            value = getattr(settings, field)
            if value is not None:
                task_model(f"Model: {value}", name(field))
    except ModelError as exc:
        raise pytest.UsageError(str(exc)) from None


#: (roadmap, its mtime, phase, group) -> the model the group's heading or intro names
_GROUP_MODELS: dict[tuple[str, int, int, str], str | None] = {}


def _group_model(path: Path, phase: Phase, group: Group) -> str | None:
    """The model ``group`` names in the roadmap file (read once per version of it)."""
    mtime = _mtime(path)
    key = (str(path), mtime, phase.number, group.id)
    if key not in _GROUP_MODELS:
        _GROUP_MODELS[key] = _group(phase, group, _lines(str(path), mtime), path.name)
    return _GROUP_MODELS[key]


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=2)
def _lines(path: str, mtime: int) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _group(phase: Phase, group: Group, lines: list[str], file: str) -> str | None:
    """From its heading line, else the lines between it and its first task (or the next
    group)."""
    heading = lines[group.line - 1] if 0 < group.line <= len(lines) else ""
    later = [g.line for g in phase.groups if g.line > group.line]
    end = min([t.line for t in group.tasks] + later + [len(lines) + 1])
    intro = lines[group.line : end - 1]
    return group_model(heading, intro, f"{file}:{group.line}: group {group.id}")
