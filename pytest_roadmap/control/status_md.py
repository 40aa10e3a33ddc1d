"""The PHASE1-GROUP-A-STATUS.md file of a completed group, and the facts on progress lines."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone
from typing import Any

from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.text import seconds


def cost_and_turns(props: Mapping[str, Any]) -> str:
    """`` ($0.0123, 5 turns)`` from a task's report properties, or ``""``."""
    parts = []
    if props.get("cost_usd") is not None:
        parts.append(f"${float(props['cost_usd']):.4f}")
    if props.get("num_turns") is not None:
        parts.append(f"{props['num_turns']} turns")
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
    def of(cls, task: Task, skip_reason: str | None, props: Mapping[str, Any]) -> TaskLine:
        """Build the row from the task's report properties (or its cached record)."""
        outcome = skip_reason or str(props.get("outcome", "passed"))
        duration = props.get("duration_s")
        cost = props.get("cost_usd")
        return cls(
            id=task.id,
            title=task.title,
            outcome=outcome,
            duration=f"{float(duration):.1f}s" if duration is not None else "",
            turns=str(props.get("num_turns") or ""),
            cost=f"{float(cost):.4f}" if cost is not None else "",
            log=str(props.get("log") or ""),
            summary=str(props.get("result") or ""),
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def status_markdown(
    roadmap_name: str,
    phase: Phase,
    group: Group,
    tasks: Sequence[TaskLine],
    gate_props: Mapping[str, Any],
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
    commands = [
        (
            str(gate_props[key]),
            gate_props.get(f"gate_exit_{key.rsplit('_', 1)[1]}"),
            gate_props.get(f"gate_duration_{key.rsplit('_', 1)[1]}"),
        )
        for key in sorted(gate_props, key=_command_index)
        if key.startswith("gate_command_")
    ]
    if commands:
        out += ["| Command | Exit code | Duration |", "|---|---|---|"]
        out += [
            f"| `{_cell(cmd)}` | {'' if code is None else code} | "
            f"{'' if took is None else f'{float(took):.1f}s'} |"
            for cmd, code, took in commands
        ]
    else:
        out.append("No gate commands.")
    summaries = [t for t in tasks if t.summary]
    if summaries:
        out += ["", "## Agent summaries"]
        for t in summaries:
            out += ["", f"### {t.id}: {t.title}", "", t.summary.strip()]
    return "\n".join(out) + "\n"


def _command_index(key: str) -> int:
    tail = key.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0
