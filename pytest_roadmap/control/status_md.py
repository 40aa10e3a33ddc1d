"""The PHASE1-GROUP-A-STATUS.md file of a completed group, and the facts on progress lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone

from pytest_roadmap.model.facts import CommandFacts
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.text import seconds


def cost_and_turns(facts: StepFacts) -> str:
    """`` ($0.0123, 5 turns)`` from a task's facts, or ``""``."""
    parts = []
    if facts.cost_usd is not None:
        parts.append(f"${facts.cost_usd:.4f}")
    if facts.num_turns is not None:
        parts.append(f"{facts.num_turns} turns")
    return f" ({', '.join(parts)})" if parts else ""


@dataclass(frozen=True)
class TaskLine:
    """One task's row in a STATUS file."""

    id: str
    title: str
    outcome: str
    duration: str
    turns: str
    cost: str
    log: str
    summary: str

    @classmethod
    def of(cls, task: Task, skip_reason: str | None, record: TaskRecord) -> TaskLine:
        """Build the row from the task's record."""
        duration, cost = record.duration_s, record.cost_usd
        return cls(
            id=task.id,
            title=task.title,
            outcome=skip_reason or record.outcome or "passed",
            duration=f"{duration:.1f}s" if duration is not None else "",
            turns=str(record.num_turns or ""),
            cost=f"{cost:.4f}" if cost is not None else "",
            log=record.log or "",
            summary=record.result or "",
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_markdown(
    roadmap_name: str,
    phase: Phase,
    group: Group,
    tasks: Sequence[TaskLine],
    commands: Sequence[CommandFacts],
) -> str:
    """The PHASE1-GROUP-A-STATUS.md text of a completed group."""
    title = f": {group.title}" if group.title else ""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    out = [
        f"# Phase {phase.number} · Group {group.id}{title} — complete",
        "",
        f"- Roadmap: {roadmap_name}",
        f"- Phase {phase.number}: {phase.title}",
        f"- Completed: {now}",
        "",
        "## Tasks",
        "",
        "| Task | Title | Outcome | Duration | Turns | Cost (USD) | Log |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tasks:
        row = (t.id, t.title, t.outcome, t.duration, t.turns, t.cost, t.log)
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    costs = [float(t.cost) for t in tasks if t.cost]
    if costs:
        out += ["", f"Total cost: ${sum(costs):.4f}"]
    durations = [float(t.duration.rstrip("s")) for t in tasks if t.duration]
    if durations:
        out += ["", f"Total agent time: {seconds(sum(durations))}"]
    out += ["", "## Gate", ""]
    if commands:
        out += ["| Command | Exit code | Duration |", "|---|---|---|"]
        out += [
            f"| `{_cell(c.command)}` | {'' if c.exit_code is None else c.exit_code} | "
            f"{'' if c.duration_s is None else f'{c.duration_s:.1f}s'} |"
            for c in commands
        ]
    else:
        out.append("No gate commands.")
    summaries = [t for t in tasks if t.summary]
    if summaries:
        out += ["", "## Agent summaries"]
        for t in summaries:
            out += ["", f"### {t.id}: {t.title}", "", t.summary.strip()]
    return "\n".join(out) + "\n"
