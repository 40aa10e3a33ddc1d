"""The prompt each agent gets: the default text, or the user's template."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Task

DEFAULT_TEMPLATE = """\
Implement Phase {phase_number}, Group {group_id}, Task {task_id}: {task_title}

You are one of several coding agents working in this repository at the same time, \
each on one task of the roadmap in {roadmap_path}.

Task {task_id}: {task_title}
{task_text}
{checks}
Phase {phase_number}: {phase_title}
Group {group_id}: {group_title}
Other tasks of this group, done at the same time by other agents (leave them to them):
{siblings}

Rules:
- Work only on task {task_id}; do not change what the other tasks own.
- Do not commit, push or create branches: the orchestrator commits after the phase.
- Do not edit {roadmap_path} or the status files: they are the orchestrator's, and it \
records what is done.
- When you are done, reply with a short summary of what you changed.
"""

CONTINUE_TEMPLATE = """\
Continue Phase {phase_number}, Group {group_id}, Task {task_id}: {task_title}

Your previous attempt at this task stopped before it was done ({reason}). Pick up where \
you left off and finish the task. The same rules apply: work only on task {task_id}, do not \
commit or push, and end with a short summary of what you changed.
"""

REPAIR_TEMPLATE = """\
Repair Phase {phase_number}, Group {group_id}: {group_title}

The group's tasks are done, but its gate failed: `{command}` {how}. The end of its output:

```
{output}
```

The gate runs these commands, in order, in the repository's root:
{commands}

The group's tasks, just done by other agents:
{tasks}

Changes since the last commit:

```
{diff}
```

Tests that existed before this group and were changed in it (allowed; check that they \
still test what they tested):
{tests_changed}

Fix the code so that every gate command passes. Do not delete, skip or weaken checks or \
tests to make them pass. Do not commit or push. Do not edit the roadmap or the status \
files: they are the orchestrator's. End with a short summary of what you changed.
"""

MERGE_TEMPLATE = """\
Resolve a merge conflict in Phase {phase_number}, Group {group_id}: {group_title}

The group's tasks were done by other agents, each on its own git branch, and are being \
merged into {target} one by one. Merging the branch `{branch}` (Task {task_id}: \
{task_title}) conflicts; that merge is in progress in this repository (see `git status`).

Files in conflict:
{files}

The group's tasks:
{tasks}

Resolve every conflict so that the work of both sides is kept: edit each file in conflict, \
remove every conflict marker (<<<<<<<, =======, >>>>>>>), then stage it with `git add`. \
Do not commit, abort the merge or switch branches: the orchestrator commits the merge, then \
runs these commands in the repository's root:
{commands}

End with a short summary of how you resolved each file.
"""

_PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: other tasks of the group a prompt lists at the most (the nearest in roadmap order)
SIBLINGS_SHOWN = 30


def prompt_values(roadmap_path: str, phase: Phase, group: Group, task: Task) -> dict[str, str]:
    """The placeholders a template may use, and their values for one task."""
    return {
        "task_id": task.id,
        "task_title": task.title,
        "task_text": task.text,
        "group_id": group.id,
        "group_title": group.title,
        "phase_number": str(phase.number),
        "phase_title": phase.title,
        "siblings": siblings(group, task, roadmap_path),
        "roadmap_path": roadmap_path,
        "checks": "",  # what proves the task done: filled in by steps/checks.py
    }


def siblings(group: Group, task: Task, roadmap_path: str) -> str:
    """The group's other tasks, one line each: the SIBLINGS_SHOWN nearest to ``task``.

    A group of hundreds of tasks would otherwise put hundreds of lines into every one of
    its prompts, paid for in tokens by every agent.
    """
    tasks = group.tasks
    at = next((i for i, t in enumerate(tasks) if t.id == task.id), 0)
    start = max(0, min(at - SIBLINGS_SHOWN // 2, len(tasks) - SIBLINGS_SHOWN - 1))
    shown = [t for t in tasks[start : start + SIBLINGS_SHOWN + 1] if t.id != task.id]
    lines = [f"- {t.id}: {t.title}" for t in shown[:SIBLINGS_SHOWN]]
    more = len(tasks) - 1 - len(lines)
    if more > 0:
        lines.append(f"- ... and {more} more, listed in {roadmap_path}")
    return "\n".join(lines) or "(none)"


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders in one pass; other braces stay as they are."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)


def load_template(path: Path | None) -> str:
    """The user's template file, or the default one."""
    if path is None:
        return DEFAULT_TEMPLATE
    return path.read_text(encoding="utf-8")
