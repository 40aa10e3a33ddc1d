"""The culprit of a failing merged gate (worktree isolation): the task whose merge made the
gate's failing command fail, found by bisection, and its own session continued on the
merged tree with the failure before any repair agent starts.

A task that passes notes its session (worktree isolation), or the files it changed (the
shared tree, for the repair agent's suspects), in pytest's cache directory, one small file
per task, for its group's gate on whichever xdist worker. The other tasks' sessions are
never sent the failure.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_roadmap import segments
from pytest_roadmap.agents.attempts import Attempts
from pytest_roadmap.agents.presets import command_for
from pytest_roadmap.agents.prompt import prompt_values
from pytest_roadmap.agents.prompt import render
from pytest_roadmap.agents.shell import CommandResult
from pytest_roadmap.agents.shell import run_commands
from pytest_roadmap.model.facts import RepairFacts
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id
from pytest_roadmap.model.plan import log_name
from pytest_roadmap.model.plan import log_prefix
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.paths import atomic_write
from pytest_roadmap.paths import shown
from pytest_roadmap.workspace import worktree
from pytest_roadmap.workspace.bisect import Merge
from pytest_roadmap.workspace.bisect import first_failing
from pytest_roadmap.workspace.git import WorkspaceError
from pytest_roadmap.workspace.git import run_git

if TYPE_CHECKING:
    from pytest_roadmap.steps.gate import GateRun

__all__ = ["note_task", "send_back", "suspects", "suspects_text"]

NOTES_DIR = "roadmap-task-notes"

CULPRIT_TEMPLATE = """\
Continue Phase {phase_number}, Group {group_id}, Task {task_id}: {task_title}

Your branch was merged with the other tasks of Group {group_id}, and the group's gate now \
fails: `{command}` {how}. It passed before your branch was merged and fails after it, so \
your change is the likely cause. You now work in the repository's main tree, where every \
task of the group is merged. The end of its output:

```
{output}
```

Fix it here without undoing the other tasks' work, and without deleting, skipping or \
weakening checks or tests. Do not commit or push. End with a short summary of what you \
changed.
"""


def _note_file(config: pytest.Config, step: Step, task: Task) -> Path | None:
    """The task's note in pytest's cache directory (None without the cache plugin)."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    name = f"{log_prefix(step.phase, step.group)}_{task.id}.json"
    return Path(cache.mkdir(NOTES_DIR)) / name


def note_task(
    config: pytest.Config, step: Step, session_id: str | None, files: list[str] | None
) -> None:
    """After a task passed: keep its session (worktree isolation) or the files it changed
    (the shared tree) for its group's gate."""
    path = _note_file(config, step, step.task) if step.task is not None else None
    if path is not None:  # always: an earlier run's note must not outlive this run's task
        note = json.dumps({"session_id": session_id, "files": files})
        atomic_write(path, note, durable=False)


def _note_of(config: pytest.Config, step: Step, task: Task) -> dict[str, object]:
    path = _note_file(config, step, task)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _session_of(config: pytest.Config, step: Step, task: Task) -> str | None:
    session = _note_of(config, step, task).get("session_id")
    return session if isinstance(session, str) and session else None


def suspects(gate: GateRun, failed: list[CommandResult]) -> list[str]:
    """In the shared tree: the tasks whose changed files the failing output names."""
    step = gate.step
    assert step.group is not None
    named = []
    for task in step.group.tasks:
        files = _note_of(gate.config, step, task).get("files")
        if isinstance(files, list) and any(
            isinstance(f, str) and f and any(f in result.tail for result in failed) for f in files
        ):
            named.append(task.id)
    return named


def suspects_text(gate: GateRun, failed: list[CommandResult]) -> str:
    """What a repair agent is told about the suspects (noted in the gate's facts too)."""
    names = suspects(gate, failed)
    if not names:
        return ""
    gate.facts.notes.append(f"suspects: {', '.join(names)}")
    return (
        f"\nSuspects: {', '.join(names)}: the failing output names files these tasks "
        "changed; look at their work first.\n"
    )


def _merges(gate: GateRun) -> list[tuple[Task, Merge]]:
    """The task branches the gate merged, in order, with their merge commits."""
    step = gate.step
    assert step.group is not None
    by_branch = {worktree.task_branch(step, task): task for task in step.group.tasks}
    found = []
    for entry in gate.facts.merged:
        branch, _, rest = entry.partition(" ")
        task = by_branch.get(branch)
        if task is not None and rest:
            found.append((task, Merge(task.id, rest.split()[0])))
    return found


def find_culprit(gate: GateRun, failed: CommandResult, log: Path) -> Task | None:
    """The task whose merge made ``failed``'s command fail (bisection in a scratch
    worktree); None when it failed before the merges too, or cannot be told."""
    settings = gate.settings
    merges = _merges(gate)
    if not merges:
        return None

    def passes(cwd: Path) -> bool:
        [result] = run_commands([failed.command], cwd, log, settings.task_timeout)
        return result.ok

    try:
        top = Path(run_git(settings.project_dir, "rev-parse", "--show-toplevel"))
        name = f"{log_prefix(gate.step.phase, gate.step.group)}-bisect"
        scratch = worktree.worktree_root(top) / name
        with segments.span(gate.item, "gate", "bisect"):
            merge, runs = first_failing(
                settings.project_dir, top, [m for _, m in merges], passes, scratch
            )
    except WorkspaceError as exc:
        gate.facts.warnings.append(f"could not find the culprit: {exc.reason}")
        return None
    before = "" if merge is not None else ": it fails before the merges too"
    gate.facts.notes.append(
        f"bisect: {runs} run(s) of '{failed.command}' over {len(merges)} merges{before}"
    )
    return next((task for task, m in merges if merge is not None and m == merge), None)


def send_back(
    gate: GateRun, commands: list[str], failed: list[CommandResult], log: Path
) -> list[CommandResult]:
    """Name the culprit of a failing merged gate, and continue its session with the failure
    (each continuation one of the gate's fix attempts); the gate's failure afterwards."""
    culprit = find_culprit(gate, failed[0], log)
    if culprit is None:
        return failed
    gate.facts.culprit = culprit.id
    gate.facts.warnings.append(
        f"gate failed: `{failed[0].command}` first fails after merging {culprit.id}"
    )
    settings, step = gate.settings, gate.step
    session = _session_of(gate.config, step, culprit)
    now = failed
    while now and session and gate.repairs < settings.fix_attempts:
        gate.repairs += 1
        _continue(gate, culprit, session, now)
        now = gate.check(commands, log)
    return now


def _continue(gate: GateRun, task: Task, session: str, failed: list[CommandResult]) -> None:
    """Continue ``task``'s session in the main tree with the gate's failure."""
    settings, step = gate.settings, gate.step
    assert step.group is not None
    task_step = gate.run_state.steps[local_id(step.phase, step.group, task.id)]
    values = prompt_values(settings.roadmap.name, step.phase, step.group, task)
    values.update(gate.failure_values(failed))
    log = settings.log_dir / log_name(step.phase, step.group, f"{task.id}-gate", time.time())
    command = command_for(
        gate.config,
        task_step,
        render(CULPRIT_TEMPLATE, values),
        log,
        resume=session,
        cwd=settings.project_dir,
    )
    started = time.time()
    attempts = Attempts(gate.item, task_step, log, retries=0)
    _result, agent_failure = attempts.run(command)
    outcome = agent_failure.reason if agent_failure else "ok"
    why = f"gate: {gate.said(failed)}: sent to {task.id}'s session"
    segments.record(gate.item, "repair", started, time.time(), f"{task.id} ({why}): {outcome}")
    cost = round(attempts.cost, 6) if attempts.cost else None
    gate.facts.repairs.append(RepairFacts(why, shown(log, settings.project_dir), outcome, cost))
