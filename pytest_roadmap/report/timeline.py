"""The run's timeline as a picture: step records laid out in lanes, drawn as inline SVG.

Pure: no I/O, no clock. :func:`layout` turns :class:`StepRecord` s (what the report
knows of each task, gate and commit of each run) and :class:`RunMark` s (each run's
time, agent slots and run-wide waits) into positions; :func:`render_svg` draws them.

Time runs left to right, one section per run (earlier runs first, each marked), so a
resumed roadmap's days-long pause between runs takes no room. One lane per agent slot
(xdist worker, or ``main`` for a serial run): idle slots at a barrier show as gaps. A
bar per task attempt, gate run, repair agent and phase commit, coloured by outcome;
stagger, retry and usage-limit waits of an item as thin bars in its lane; run-wide
waits (usage limit, memory) as bands across every lane; retries and resumed sessions
as marks on their attempt; a vertical line where each group began.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pytest_roadmap.segments import Segment
from pytest_roadmap.text import seconds

__all__ = [
    "Bar",
    "Layout",
    "RunMark",
    "StepRecord",
    "clock",
    "layout",
    "render_svg",
]

WIDTH = 1200  # px of the whole picture
LEFT = 64  # px for the lane names
RIGHT = 16
TOP = 44  # px for group labels and run marks
LANE_HEIGHT = 26
BAR_HEIGHT = 18
WAIT_HEIGHT = 6
RUN_GAP = 28  # px between the sections of two runs
AXIS = 22  # px below the lanes for the time ticks
CHAR_WIDTH = 6.5  # px per character of a bar's label (11 px sans-serif, roughly)
MIN_BAR = 2.0  # px: a bar never gets thinner than this
WAIT_KINDS = ("stagger_wait", "retry_wait", "limit_wait", "memory_wait")
RUNNING = ("running",)
_NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)


@dataclass(frozen=True)
class StepRecord:
    """One step of one run as the report saw it; ``end`` is None while it runs."""

    run: int
    key: str  # local node id: phase1::groupA::A1
    name: str  # A1, gate 1·A, commit 1
    kind: str  # task, gate, commit
    group: str  # Phase 1 · Group A (Phase 1 for a commit)
    title: str
    lane: str  # the agent slot: gw0, gw1, ... or main
    outcome: str  # running, passed, failed, skipped, interrupted
    start: float
    end: float | None = None
    reason: str = ""
    spans: tuple[Segment, ...] = ()
    turns: int | None = None
    cost: float | None = None
    log: str = ""
    #: logs of the gate's repair agents, in order
    repair_logs: tuple[str, ...] = ()
    resumed: bool = False
    #: what the report marks on the step: "unchecked", "tests changed: ..." (issues 27, 28)
    marks: tuple[str, ...] = ()

    @property
    def ran(self) -> bool:
        """Something ran: it has a bar (a skipped step has none)."""
        return self.outcome != "skipped"

    def agent_time(self) -> float:
        """Seconds its agents ran (all attempts; the repair agents of a gate)."""
        kinds = ("agent",) if self.kind == "task" else ("repair",)
        spans = [s for s in self.spans if s.kind in kinds]
        if spans:
            return sum(s.duration for s in spans)
        if self.kind == "task" and self.ran and self.end is not None:
            return max(0.0, self.end - self.start)
        return 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (pytest's cache keeps the records of earlier runs)."""
        data = {k: v for k, v in self.__dict__.items() if k not in ("spans", "repair_logs")}
        data["spans"] = [[s.kind, s.start, s.end, s.note] for s in self.spans]
        data["repair_logs"] = list(self.repair_logs)
        data["marks"] = list(self.marks)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        """Read back :meth:`to_json`; raises KeyError, TypeError or ValueError when malformed."""
        spans = tuple(
            Segment(str(k), float(s), float(e), str(n)) for k, s, e, n in data.get("spans", ())
        )
        end = data.get("end")
        turns, cost = data.get("turns"), data.get("cost")
        return cls(
            run=int(data["run"]),
            key=str(data["key"]),
            name=str(data["name"]),
            kind=str(data["kind"]),
            group=str(data["group"]),
            title=str(data.get("title", "")),
            lane=str(data["lane"]),
            outcome=str(data["outcome"]),
            start=float(data["start"]),
            end=None if end is None else float(end),
            reason=str(data.get("reason", "")),
            spans=spans,
            turns=None if turns is None else int(turns),
            cost=None if cost is None else float(cost),
            log=str(data.get("log", "")),
            repair_logs=tuple(str(x) for x in data.get("repair_logs", ())),
            resumed=bool(data.get("resumed", False)),
            marks=tuple(str(x) for x in data.get("marks", ())),
        )


@dataclass(frozen=True)
class RunMark:
    """One run: when it began and ended (None: still going), its slots, its run-wide waits."""

    number: int
    start: float
    end: float | None = None
    slots: tuple[str, ...] = ()
    waits: tuple[Segment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "number": self.number,
            "start": self.start,
            "end": self.end,
            "slots": list(self.slots),
            "waits": [[w.kind, w.start, w.end, w.note] for w in self.waits],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunMark:
        """Read back :meth:`to_json`."""
        end = data.get("end")
        return cls(
            number=int(data["number"]),
            start=float(data["start"]),
            end=None if end is None else float(end),
            slots=tuple(str(s) for s in data.get("slots", ())),
            waits=tuple(
                Segment(str(k), float(s), float(e), str(n)) for k, s, e, n in data.get("waits", ())
            ),
        )


@dataclass(frozen=True)
class Bar:
    """A drawn span: ``kind`` is agent, gate, repair, commit or a wait kind."""

    kind: str
    outcome: str
    step: str  # the step's name: A1, gate 1·A, commit 1
    key: str
    run: int
    lane: int  # index into Layout.lanes; -1: across every lane (a run-wide wait)
    x: float
    y: float
    width: float
    height: float
    tooltip: str
    href: str = ""
    label: str = ""  # drawn inside the bar when it fits
    marks: tuple[str, ...] = ()  # retry, resumed


@dataclass(frozen=True)
class Line:
    """A vertical line with a label on top: where a group or a run began."""

    kind: str  # group, run, now
    x: float
    label: str
    tooltip: str = ""


@dataclass(frozen=True)
class Tick:
    """A time mark under the lanes."""

    x: float
    label: str


@dataclass
class Layout:
    """Everything :func:`render_svg` draws, in px."""

    width: float
    height: float
    lanes: list[str]
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    #: run number -> (x of its start, x of its end)
    sections: dict[int, tuple[float, float]] = field(default_factory=dict)

    def lane_y(self, lane: int) -> float:
        """Top of a lane."""
        return TOP + lane * LANE_HEIGHT


def clock(moment: float) -> str:
    """``2026-12-02 10:04:05 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def _lane_order(name: str) -> tuple[int, str, int]:
    """gw2 before gw10; main first."""
    match = re.fullmatch(r"(\D*)(\d+)", name)
    if name == "main":
        return (0, "", 0)
    if match:
        return (1, match.group(1), int(match.group(2)))
    return (2, name, 0)


def _run_end(run: RunMark, records: Iterable[StepRecord], now: float) -> float:
    end = run.end if run.end is not None else now
    for record in records:
        end = max(end, record.end if record.end is not None else now)
        for span in record.spans:
            end = max(end, span.end)
    for wait in run.waits:
        end = max(end, min(wait.end, now) if run.end is None else wait.end)
    return end


def _run_start(run: RunMark, records: Iterable[StepRecord]) -> float:
    start = run.start
    for record in records:
        start = min(start, record.start, *(s.start for s in record.spans))
    return start


def _tick_step(seconds_per_px: float) -> int:
    for step in _NICE_STEPS:
        if step / seconds_per_px >= 90:
            return step
    return _NICE_STEPS[-1]


def _tick_label(elapsed: int) -> str:
    if elapsed < 60:
        return f"{elapsed}s"
    if elapsed < 3600:
        minutes, secs = divmod(elapsed, 60)
        return f"{minutes}m" if not secs else f"{minutes}m{secs:02d}"
    hours, rest = divmod(elapsed, 3600)
    return f"{hours}h" if not rest else f"{hours}h{rest // 60:02d}"


def tooltip(record: StepRecord, start: float, end: float, what: str = "") -> str:
    """Id, title, start, duration, turns, cost, outcome and reason, one per line."""
    lines = [f"{record.name}: {record.title}" if record.title else record.name]
    if what:
        lines.append(what)
    lines.append(f"{record.group} · run {record.run} · {record.lane}")
    lines.append(f"start {clock(start)}, duration {seconds(max(0.0, end - start))}")
    facts = []
    if record.turns is not None:
        facts.append(f"turns {record.turns}")
    if record.cost is not None:
        facts.append(f"cost ${record.cost:.4f}")
    if facts:
        lines.append(", ".join(facts))
    lines.append(f"{record.outcome}: {record.reason}" if record.reason else record.outcome)
    return "\n".join(lines)


def layout(
    records: Sequence[StepRecord],
    runs: Sequence[RunMark],
    now: float,
    *,
    width: float = WIDTH,
    log_href: Mapping[str, str] | None = None,
) -> Layout:
    """Place every record of every run: lanes, bars, group and run lines, time ticks.

    ``now`` ends what is still running; ``log_href`` maps a log path (as records name
    it) to the link the picture uses (relative to where the page is written).
    """
    hrefs = log_href or {}
    by_run: dict[int, list[StepRecord]] = {run.number: [] for run in runs}
    for record in records:
        by_run.setdefault(record.run, []).append(record)
    marks = {run.number: run for run in runs}
    for number in by_run:
        if number not in marks:
            first = min((r.start for r in by_run[number]), default=now)
            marks[number] = RunMark(number, first, None)
    order = sorted(marks)
    names: set[str] = set()
    for number in order:
        names.update(marks[number].slots)
        names.update(r.lane for r in by_run[number] if r.ran)
    lanes = sorted(names or {"main"}, key=_lane_order)
    lane_index = {name: index for index, name in enumerate(lanes)}
    height = TOP + len(lanes) * LANE_HEIGHT + AXIS
    result = Layout(width, height, lanes)

    spans = {}
    for number in order:
        ran = [r for r in by_run[number] if r.ran]
        start = _run_start(marks[number], ran)
        spans[number] = (start, max(start + 1.0, _run_end(marks[number], ran, now)))
    total = sum(end - start for start, end in spans.values())
    room = max(100.0, width - LEFT - RIGHT - RUN_GAP * (len(order) - 1))
    scale = room / total if total > 0 else 1.0  # px per second
    x = float(LEFT)
    for number in order:
        start, end = spans[number]
        result.sections[number] = (x, x + (end - start) * scale)
        x += (end - start) * scale + RUN_GAP

    def at(number: int, moment: float) -> float:
        left, right = result.sections[number]
        return min(right, max(left, left + (moment - spans[number][0]) * scale))

    step = _tick_step(1.0 / scale)
    for number in order:
        left, right = result.sections[number]
        mark = marks[number]
        state = "running" if mark.end is None else "finished"
        about = f"run {number}: started {clock(mark.start)}, {state}"
        result.lines.append(Line("run", left, f"run {number}", about))
        elapsed = 0
        while left + elapsed * scale <= right + 0.5:
            result.ticks.append(Tick(left + elapsed * scale, _tick_label(elapsed)))
            elapsed += step
        for wait in mark.waits:
            wait_end = min(wait.end, now) if mark.end is None else wait.end
            x0, x1 = at(number, wait.start), at(number, wait_end)
            what = "usage-limit wait" if wait.kind == "limit_wait" else "memory wait"
            tip = f"{what} (all agents): {wait.note}".rstrip(": ") + (
                f"\nstart {clock(wait.start)}, duration {seconds(wait_end - wait.start)}"
            )
            result.bars.append(
                Bar(
                    wait.kind,
                    "wait",
                    what,
                    "",
                    number,
                    -1,
                    x0,
                    TOP,
                    max(MIN_BAR, x1 - x0),
                    len(lanes) * LANE_HEIGHT,
                    tip,
                )
            )
        groups: dict[str, float] = {}
        for record in by_run[number]:
            if not record.ran:
                continue
            if record.kind != "commit":
                groups[record.group] = min(groups.get(record.group, record.start), record.start)
            result.bars += _bars(record, lane_index[record.lane], now, hrefs, at)
        for group, began in sorted(groups.items(), key=lambda item: item[1]):
            short = group.replace("Phase ", "").replace(" · Group ", "·")
            result.lines.append(Line("group", at(number, began), short, group))
        if mark.end is None:
            result.lines.append(Line("now", at(number, now), "now", f"updated {clock(now)}"))
    return result


def _bars(
    record: StepRecord,
    lane: int,
    now: float,
    hrefs: Mapping[str, str],
    at: Any,
) -> list[Bar]:
    """The bars of one record: one per attempt, gate run, repair; waits; marks."""
    out: list[Bar] = []
    top = TOP + lane * LANE_HEIGHT + (LANE_HEIGHT - BAR_HEIGHT) / 2
    end = record.end if record.end is not None else now

    def bar(kind: str, outcome: str, start: float, stop: float, what: str, **extra: Any) -> None:
        x0, x1 = at(record.run, start), at(record.run, stop)
        waiting = kind in WAIT_KINDS
        height = WAIT_HEIGHT if waiting else BAR_HEIGHT
        y = top + (BAR_HEIGHT - WAIT_HEIGHT) / 2 if waiting else top
        bar_width = max(MIN_BAR, x1 - x0)
        fits = bar_width >= len(record.name) * CHAR_WIDTH + 4
        label = record.name if fits and not waiting else ""
        out.append(
            Bar(
                kind,
                outcome,
                record.name,
                record.key,
                record.run,
                lane,
                x0,
                y,
                bar_width,
                height,
                tooltip(record, start, stop, what),
                label=label,
                **extra,
            )
        )

    for span in record.spans:
        if span.kind in WAIT_KINDS:
            what = span.kind.replace("_", " ") + (f": {span.note}" if span.note else "")
            bar(span.kind, "wait", span.start, span.end, what)
    attempts = [s for s in record.spans if s.kind == "agent"]
    if record.kind == "task" and attempts:
        for number, span in enumerate(attempts, start=1):
            last = number == len(attempts)
            outcome = record.outcome if last else "failed"
            marks = []
            if number > 1:
                marks.append("retry")
            if number == 1 and record.resumed:
                marks.append("resumed")
            what = f"attempt {number} of {len(attempts)}" if len(attempts) > 1 else ""
            if "resumed" in marks:
                what = (what + ", " if what else "") + "resumed an earlier session"
            if not last:
                what += f": {span.note}"
            stop = span.end if not (last and record.outcome in RUNNING) else max(span.end, now)
            bar("agent", outcome, span.start, stop, what, href=hrefs.get(record.log, ""),
                marks=tuple(marks))  # fmt: skip
        if record.outcome in ("running", "interrupted") and attempts[-1].end < end - 0.5:
            bar("agent", record.outcome, attempts[-1].end, end, "", href=hrefs.get(record.log, ""))
        for span in (s for s in record.spans if s.kind == "check"):  # see steps/checks.py
            passed = "passed" if span.note.endswith(" passed") else "failed"
            bar("check", passed, span.start, span.end, f"check {span.note}")
        return out
    if record.kind == "gate":
        runs = [s for s in record.spans if s.kind == "gate"]
        repairs = [s for s in record.spans if s.kind == "repair"]
        for index, span in enumerate(runs):
            outcome = record.outcome if index == len(runs) - 1 else "failed"
            what = f"gate run {index + 1} of {len(runs)}" if len(runs) > 1 else ""
            bar("gate", outcome, span.start, span.end, what, href=hrefs.get(record.log, ""))
        for index, span in enumerate(repairs):
            log = record.repair_logs[index] if index < len(record.repair_logs) else ""
            bar("repair", "passed" if span.note in ("", "ok", "passed") else "failed",
                span.start, span.end, f"repair agent {index + 1}: {span.note or 'ok'}",
                href=hrefs.get(log, ""))  # fmt: skip
        if runs or repairs:
            if record.outcome in ("running", "interrupted"):
                last_end = max(s.end for s in (*runs, *repairs))
                if last_end < end - 0.5:
                    bar("gate", record.outcome, last_end, end, "", href=hrefs.get(record.log, ""))
            return out
    kind = {"task": "agent"}.get(record.kind, record.kind)
    bar(kind, record.outcome, record.start, end, "", href=hrefs.get(record.log, ""))
    return out


# -- drawing ------------------------------------------------------------------------


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def render_svg(plan: Layout) -> str:
    """The layout as an ``<svg>`` element: no script, no external resource."""
    esc = html.escape
    bottom = TOP + len(plan.lanes) * LANE_HEIGHT
    out = [
        f'<svg class="timeline" width="{plan.width:.0f}" height="{plan.height:.0f}" '
        f'viewBox="0 0 {plan.width:.0f} {plan.height:.0f}" role="img" '
        'aria-label="timeline of the run">'
    ]
    for index, lane in enumerate(plan.lanes):
        y = plan.lane_y(index)
        out.append(
            f'<rect class="lane{index % 2}" x="0" y="{y:.1f}" width="{plan.width:.0f}" '
            f'height="{LANE_HEIGHT}"/><text class="lane-name" x="6" '
            f'y="{y + LANE_HEIGHT / 2 + 4:.1f}">{esc(lane)}</text>'
        )
    for tick in plan.ticks:
        out.append(
            f'<line class="tick" x1="{tick.x:.1f}" x2="{tick.x:.1f}" y1="{bottom:.1f}" '
            f'y2="{bottom + 4:.1f}"/><text class="tick" x="{tick.x:.1f}" '
            f'y="{bottom + 15:.1f}">{esc(tick.label)}</text>'
        )
    for bar in plan.bars:
        if bar.lane >= 0:
            continue
        out.append(
            f'<g class="wait-band {bar.kind}"><title>{esc(bar.tooltip)}</title>'
            f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}"/></g>'
        )
    for bar in plan.bars:
        if bar.lane < 0:
            continue
        waiting = bar.kind in WAIT_KINDS
        cls = f"wait {bar.kind}" if waiting else f"bar {bar.kind} {bar.outcome}"
        if bar.marks:
            cls += " " + " ".join(bar.marks)
        body = (
            f'<g class="{cls}" data-step="{_attr(bar.step)}" data-run="{bar.run}">'
            f"<title>{esc(bar.tooltip)}</title>"
            f'<rect x="{bar.x:.1f}" y="{bar.y:.1f}" width="{bar.width:.1f}" '
            f'height="{bar.height:.1f}" rx="2"/>'
        )
        if bar.label:
            body += (
                f'<text x="{bar.x + 3:.1f}" y="{bar.y + bar.height - 5:.1f}">'
                f"{esc(bar.label)}</text>"
            )
        for mark in bar.marks:  # shapes, not characters: every font draws them
            if mark == "retry":
                body += f'<circle class="mark retry" cx="{bar.x:.1f}" cy="{bar.y:.1f}" r="3.5"/>'
            else:
                body += f'<path class="mark {mark}" d="M{bar.x:.1f} {bar.y - 4:.1f}l7 4l-7 4z"/>'
        body += "</g>"
        if bar.href:
            body = f'<a href="{_attr(bar.href)}">{body}</a>'
        out.append(body)
    for line in plan.lines:
        y0 = 12 if line.kind == "run" else 26
        title = f"<title>{esc(line.tooltip)}</title>" if line.tooltip else ""
        out.append(
            f'<g class="line {line.kind}">{title}<line x1="{line.x:.1f}" x2="{line.x:.1f}" '
            f'y1="{y0}" y2="{bottom:.1f}"/><text x="{line.x + 3:.1f}" y="{y0 + 9}">'
            f"{esc(line.label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out)
