"""Longest first: the order in which a group's tasks start, from the time each is expected to take.

When a group has more tasks ready than agents free, starting the longest ones first
shortens the group (the longest-processing-time rule); the gate and the barriers between
groups do not change, only the order inside a group.

What a task is expected to take, in this order:

1. its own duration in an earlier run (the ``duration_s`` of its record in pytest's cache:
   a failed or interrupted attempt, or the same task before a redo);
2. an estimate in the roadmap: a table column or a ``Name: value`` field in the task's text,
   named Estimate, Effort, Complexity, Size, Story points, Points or SP (at the start of a
   line, as a table cell's note is, or in brackets: ``(Effort: M)``), with values such as
   Low/Medium/High, XS/S/M/L/XL, ``2h``, ``30m``, ``1d`` or a number of story points.
   Estimates count as hours (a level or size as its usual span, 1 story point as 1 hour),
   and are scaled to seconds by what tasks with both took (the median), else 1 h = 3600 s;
3. nothing: in ``auto`` the group keeps roadmap order unless some of its tasks have an
   estimate; then the others count as the group's median. ``longest-first`` also orders
   groups with no estimate at all, by the length of each task's text (a weak proxy).

Ties keep roadmap order. Pure logic, no pytest.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import task_key
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import Task

SECONDS_PER_UNIT = 3600.0  # an estimate's hour, before calibration by earlier runs
MEASURED = "earlier run"  # the source of an estimate measured by an earlier run
#: durations an earlier run measured are compared in whole seconds: tasks within a second
#: of each other keep roadmap order, so a few milliseconds of jitter never reorder them
MEASURED_RESOLUTION = 1.0

_FIELD_RE = re.compile(  # at the start of a line (a table cell's note) or in brackets
    r"(?:^|[(\[])[*_ ]*(estimated time|estimate|effort|complexity|size|story points|points|sp)"
    r"[*_ ]*:[*_ ]*([^\n|,;()\]]{1,24})",
    re.IGNORECASE | re.MULTILINE,
)
_DURATION_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|"
    r"story points?|points?|pts?|sp)?\b",
    re.IGNORECASE,
)
_UNIT_HOURS = {"m": 1 / 60, "h": 1.0, "d": 8.0, "w": 40.0}
#: levels and T-shirt sizes, in hours; longest names first so "very high" wins over "high"
_WORDS: dict[str, float] = {
    "very high": 8.0,
    "very hard": 8.0,
    "very low": 0.5,
    "extra large": 8.0,
    "x-large": 8.0,
    "trivial": 0.5,
    "low": 1.0,
    "easy": 1.0,
    "simple": 1.0,
    "small": 1.0,
    "medium": 2.0,
    "moderate": 2.0,
    "normal": 2.0,
    "med": 2.0,
    "high": 4.0,
    "hard": 4.0,
    "complex": 4.0,
    "large": 4.0,
    "huge": 16.0,
    "xxs": 0.25,
    "xs": 0.5,
    "s": 1.0,
    "m": 2.0,
    "l": 4.0,
    "xl": 8.0,
    "xxl": 16.0,
}


@dataclass(frozen=True)
class Estimate:
    """What a task is expected to take, and where that came from."""

    seconds: float
    source: str  # "earlier run", "Complexity: High", "text length"


def parse_estimate(value: str) -> float | None:
    """Hours for an estimate's value ('High', 'XL', '2h', '30m', '5', '3 points'); None if
    it is none of those."""
    text = value.strip().strip("*_` ").lower()
    if not text:
        return None
    for word, hours in _WORDS.items():  # 'High - API changes': the first word decides
        if text == word or (len(word) > 1 and re.match(rf"{re.escape(word)}\b", text)):
            return hours
    m = _DURATION_RE.match(text)
    if m is None:
        return None
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    if unit[:1] in _UNIT_HOURS and not unit.startswith(("po", "pt")):
        return number * _UNIT_HOURS[unit[:1]]
    return number  # story points, or a bare number: one point as one hour


def column_estimate(task: Task) -> tuple[float, str] | None:
    """Hours from the first estimate field in the task's text (table cells included), and the
    field as written ('Complexity: High')."""
    for m in _FIELD_RE.finditer(task.text):
        hours = parse_estimate(m.group(2))
        if hours is not None and hours > 0:
            return hours, f"{m.group(1)}: {m.group(2).strip().strip('*_` ')}"
    return None


def estimates(roadmap: Roadmap, record_of: Callable[[str], TaskRecord]) -> dict[str, Estimate]:
    """Task key -> estimate, for every task that has one (earlier run, else roadmap)."""
    measured: dict[str, float] = {}
    written: dict[str, tuple[float, str]] = {}
    for phase, group, task in roadmap.tasks():
        key = task_key(phase, group, task)
        duration = record_of(key).duration_s
        if duration is not None and duration > 0:
            measured[key] = duration
        found = column_estimate(task)
        if found is not None:
            written[key] = found
    ratios = [measured[key] / written[key][0] for key in measured.keys() & written.keys()]
    scale = statistics.median(ratios) if ratios else SECONDS_PER_UNIT
    out = {key: Estimate(hours * scale, source) for key, (hours, source) in written.items()}
    out.update({key: Estimate(seconds, MEASURED) for key, seconds in measured.items()})
    return out


def group_order(
    tasks: Sequence[Step], estimates: Mapping[str, Estimate], mode: str
) -> list[tuple[Step, Estimate | None]]:
    """The tasks of one group in start order, each with the estimate used (None: none)."""
    known = [(step, estimates.get(_key(step))) for step in tasks]
    if mode == "roadmap" or len(tasks) < 2:
        return known
    values = [e.seconds for _, e in known if e is not None]
    if not values:
        if mode != "longest-first":
            return known
        known = [
            (step, Estimate(float(len(step.task.text if step.task else "")), "text length"))
            for step, _ in known
        ]
        values = [e.seconds for _, e in known if e is not None]
    middle = statistics.median(values)

    def rank(pair: tuple[int, tuple[Step, Estimate | None]]) -> tuple[float, int]:
        estimate = pair[1][1]
        seconds = middle if estimate is None else estimate.seconds
        if estimate is not None and estimate.source == MEASURED:
            seconds = math.floor(seconds / MEASURED_RESOLUTION) * MEASURED_RESOLUTION
        return -seconds, pair[0]

    return [pair for _, pair in sorted(enumerate(known), key=rank)]


def dispatch_order(
    steps: Iterable[Step], estimates: Mapping[str, Estimate], mode: str
) -> list[Step]:
    """``steps`` (in plan order) with each group's tasks in start order; gates and commits
    stay where they are."""
    out: list[Step] = []
    run: list[Step] = []
    for step in [*steps, None]:
        if step is not None and step.kind == "task" and (not run or run[0].ordinal == step.ordinal):
            run.append(step)
            continue
        out += [s for s, _ in group_order(run, estimates, mode)]
        run = []
        if step is not None:
            if step.kind == "task":
                run.append(step)
            else:
                out.append(step)
    return out


def describe(tasks: Sequence[Step], estimates: Mapping[str, Estimate], mode: str) -> str:
    """One line for --collect-only and dry runs: 'A3 (~2h, Estimate: 2h), A1 (~12s, earlier
    run), A2 (no estimate)'."""
    parts = []
    for step, estimate in group_order(tasks, estimates, mode):
        name = step.name
        if estimate is None:
            parts.append(f"{name} (no estimate)")
        elif estimate.source == "text length":
            parts.append(f"{name} ({int(estimate.seconds)} characters)")
        else:
            parts.append(f"{name} (~{_span(estimate.seconds)}, {estimate.source})")
    return ", ".join(parts)


def _key(step: Step) -> str:
    assert step.group is not None and step.task is not None
    return task_key(step.phase, step.group, step.task)


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g}h"
    if seconds >= 60:
        return f"{seconds / 60:.3g}m"
    return f"{seconds:.3g}s"
