"""The HTML report's page: header, timeline, per-group tables, failures, resume command.

Pure: :func:`render_page` turns records into one self-contained HTML document
(inline CSS and SVG; no script, font, image or style sheet loaded from anywhere).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from pytest_roadmap.report.timeline import RunMark
from pytest_roadmap.report.timeline import StepRecord
from pytest_roadmap.report.timeline import clock
from pytest_roadmap.report.timeline import layout
from pytest_roadmap.report.timeline import render_svg
from pytest_roadmap.text import seconds

__all__ = ["GroupStats", "group_stats", "latest", "render_page"]

REFRESH_SECONDS = 10  # a running report reloads itself this often

PAGE_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px 24px;color:#1f2328;
background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600}
.state.running{background:#fff3cd;color:#7a5b00}.state.finished{background:#dafbe1;color:#116329}
.state.finished.failed{background:#ffebe9;color:#a40e26}
table{border-collapse:collapse;margin:4px 0}
th,td{border-bottom:1px solid #d0d7de;padding:3px 10px;text-align:left}
pre{background:#f6f8fa;padding:8px;border-radius:6px;overflow-x:auto}
.muted{color:#57606a}
"""

#: the timeline's and the group table's own rules: the page has them, and so does the
#: section in pytest-html's report (whose page rules are its own)
TIMELINE_STYLE = """
.roadmap-scroll{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px}
svg.timeline{display:block;font:11px sans-serif}
svg.timeline .lane0{fill:#f6f8fa}svg.timeline .lane1{fill:#fff}
svg.timeline .lane-name{fill:#57606a}
svg.timeline line.tick{stroke:#8c959f}svg.timeline text.tick{fill:#57606a}
svg.timeline .bar rect{stroke:#fff;stroke-width:.5}
svg.timeline .bar text{fill:#fff;pointer-events:none}
svg.timeline .agent.passed rect{fill:#2da44e}svg.timeline .agent.failed rect{fill:#cf222e}
svg.timeline .agent.running rect{fill:#bf8700}
svg.timeline .agent.interrupted rect{fill:#8250df}
svg.timeline .gate.passed rect{fill:#0969da}svg.timeline .gate.failed rect{fill:#a40e26}
svg.timeline .gate.running rect,svg.timeline .gate.interrupted rect{fill:#54aeff}
svg.timeline .repair rect{fill:#e16f24}svg.timeline .repair.failed rect{fill:#bc4c00}
svg.timeline .check.passed rect{fill:#1b7c83}svg.timeline .check.failed rect{fill:#953800}
svg.timeline .commit.passed rect{fill:#6e7781}svg.timeline .commit.failed rect{fill:#a40e26}
svg.timeline .commit.running rect{fill:#afb8c1}svg.timeline .skipped rect{fill:#d0d7de}
svg.timeline .wait rect{fill:#afb8c1}svg.timeline .wait.retry_wait rect{fill:#fd8c73}
svg.timeline .wait.limit_wait rect{fill:#d4a72c}
svg.timeline .wait-band rect{fill:#d4a72c;fill-opacity:.18;stroke:#d4a72c;
stroke-dasharray:3 3}
svg.timeline .wait-band.memory_wait rect{fill:#8250df;stroke:#8250df}
svg.timeline .mark{fill:#1f2328;stroke:#fff;stroke-width:1}
svg.timeline .mark.resumed{fill:#8250df}
svg.timeline .line line{stroke:#57606a;stroke-dasharray:2 3}
svg.timeline .line text{fill:#1f2328}
svg.timeline .line.run line{stroke:#1f2328;stroke-dasharray:none;stroke-width:1.5}
svg.timeline .line.run text{font-weight:600}svg.timeline .line.now line{stroke:#bf8700}
.roadmap-legend span{display:inline-block;margin-right:12px}
.roadmap-legend i{display:inline-block;width:12px;height:10px;margin-right:4px;
border-radius:2px}
.roadmap-legend b{display:inline-block;width:8px;height:8px;border-radius:50%;
background:#1f2328;margin-right:4px}
table.groups{border-collapse:collapse;margin:4px 0}
table.groups th,table.groups td{border-bottom:1px solid #d0d7de;padding:3px 10px;
text-align:left}
table.groups td.n,table.groups th.n{text-align:right;font-variant-numeric:tabular-nums}
table.groups tr.total td{font-weight:600;border-top:2px solid #8c959f}
"""

LEGEND = (
    ("#2da44e", "task passed"),
    ("#cf222e", "task failed"),
    ("#bf8700", "running"),
    ("#8250df", "interrupted"),
    ("#0969da", "gate"),
    ("#e16f24", "repair agent"),
    ("#1b7c83", "check run"),
    ("#6e7781", "phase commit"),
    ("#afb8c1", "stagger wait"),
    ("#fd8c73", "retry wait"),
    ("#d4a72c", "usage-limit wait"),
)


@dataclass
class GroupStats:
    """A group's line of the table (or the totals')."""

    group: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    agent_time: float = 0.0
    wall_time: float = 0.0
    idle_time: float = 0.0
    cost: float = 0.0
    runs: list[int] = field(default_factory=list)

    def add(self, other: GroupStats) -> None:
        """Sum ``other`` into this one (for the totals)."""
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.agent_time += other.agent_time
        self.wall_time += other.wall_time
        self.idle_time += other.idle_time
        self.cost += other.cost
        self.runs = sorted(set(self.runs) | set(other.runs))


def latest(records: Sequence[StepRecord]) -> dict[str, StepRecord]:
    """Each step's last record that ran (else its last record), in first-seen order."""
    found: dict[str, StepRecord] = {}
    for record in records:
        before = found.get(record.key)
        if before is None or record.ran or not before.ran:
            found[record.key] = record
    return found


def group_stats(
    records: Sequence[StepRecord], runs: Sequence[RunMark], now: float
) -> list[GroupStats]:
    """Per group: tasks by their latest outcome; agent time, wall time, cost of every run.

    Wall time: from the group's first start to its last end, per run. Idle agent time at
    the barrier: per run, the slots times the span from the group's first task start to
    its last task end, minus the time its agents ran in that span: what the other slots
    sat out while the slowest tasks held the group's gate back.
    """
    slots = {run.number: max(1, len(run.slots)) for run in runs}
    stats: dict[str, GroupStats] = {}
    for record in latest(records).values():
        if record.kind != "task":
            continue
        entry = stats.setdefault(record.group, GroupStats(record.group))
        if record.outcome == "passed":
            entry.passed += 1
        elif record.outcome in ("failed", "interrupted"):
            entry.failed += 1
        elif record.outcome == "skipped":
            entry.skipped += 1
    windows: dict[tuple[str, int], list[StepRecord]] = {}
    for record in records:
        if record.kind == "commit" or not record.ran:
            continue
        entry = stats.setdefault(record.group, GroupStats(record.group))
        entry.agent_time += record.agent_time()
        entry.cost += record.cost or 0.0
        windows.setdefault((record.group, record.run), []).append(record)
    for (group, run), members in windows.items():
        entry = stats[group]
        if run not in entry.runs:
            entry.runs.append(run)
        ends = [r.end if r.end is not None else now for r in members]
        entry.wall_time += max(ends) - min(r.start for r in members)
        tasks = [r for r in members if r.kind == "task"]
        if not tasks:
            continue
        first = min(_agent_start(r) for r in tasks)
        last = max(r.end if r.end is not None else now for r in tasks)
        busy = sum(r.agent_time() if r.end is not None else now - r.start for r in tasks)
        entry.idle_time += max(0.0, slots.get(run, 1) * (last - first) - busy)
    return list(stats.values())


def _agent_start(record: StepRecord) -> float:
    attempts = [s.start for s in record.spans if s.kind == "agent"]
    return min(attempts) if attempts else record.start


def _stats_row(entry: GroupStats, css: str = "") -> str:
    runs = ", ".join(str(r) for r in sorted(entry.runs))
    cells = (
        f"<td>{html.escape(entry.group)}</td>"
        f'<td class="n">{entry.passed}</td><td class="n">{entry.failed}</td>'
        f'<td class="n">{entry.skipped}</td>'
        f'<td class="n">{seconds(entry.agent_time)}</td>'
        f'<td class="n">{seconds(entry.wall_time)}</td>'
        f'<td class="n">{seconds(entry.idle_time)}</td>'
        f'<td class="n">${entry.cost:.4f}</td><td class="n">{runs}</td>'
    )
    return f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>"


def marks_section(records: Iterable[StepRecord]) -> str:
    """The steps the report marks (unchecked groups, changed tests), or "" for none."""
    esc = html.escape
    rows = [
        f"<tr><td>{esc(r.name)}</td><td>{esc(r.group)}</td><td>{esc(mark)}</td></tr>"
        for r in records
        for mark in r.marks
    ]
    if not rows:
        return ""
    head = "<section><h2>Marks</h2><table><thead><tr><th>step</th><th>group</th><th>mark</th>"
    return head + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"


def groups_table(stats: Sequence[GroupStats]) -> str:
    """The per-group table with the run's totals as its last row."""
    total = GroupStats("total")
    for entry in stats:
        total.add(entry)
    head = (
        '<table class="groups"><thead><tr><th>group</th><th class="n">passed</th>'
        '<th class="n">failed</th><th class="n">skipped</th><th class="n">agent time</th>'
        '<th class="n">wall time</th><th class="n">idle agent time at barrier</th>'
        '<th class="n">cost</th><th class="n">runs</th></tr></thead><tbody>'
    )
    rows = [_stats_row(entry) for entry in stats]
    return head + "".join(rows) + _stats_row(total, "total") + "</tbody></table>"


def timeline_section(
    records: Sequence[StepRecord],
    runs: Sequence[RunMark],
    now: float,
    log_href: Mapping[str, str] | None = None,
) -> str:
    """The legend and the SVG, in a horizontally scrolling box."""
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{html.escape(name)}</span>'
        for colour, name in LEGEND
    )
    svg = render_svg(layout(records, runs, now, log_href=log_href))
    legend += (
        '<span><b></b>retry</span><span><b style="background:#8250df"></b>resumed session</span>'
    )
    return f'<p class="roadmap-legend">{legend}</p><div class="roadmap-scroll">{svg}</div>'


def render_page(
    title: str,
    records: Sequence[StepRecord],
    runs: Sequence[RunMark],
    now: float,
    *,
    running: bool,
    log_href: Mapping[str, str] | None = None,
    resume: str = "",
) -> str:
    """The whole report; while ``running`` it reloads itself every 10 seconds."""
    esc = html.escape
    hrefs = log_href or {}
    final = latest(records)
    failures = [r for r in final.values() if r.outcome in ("failed", "interrupted")]
    current = max((run.number for run in runs), default=0)
    started = next((run.start for run in runs if run.number == current), now)
    if running:
        state = '<span class="state running">running</span>'
    else:
        failed = " failed" if failures else ""
        state = f'<span class="state finished{failed}">finished</span>'
    earlier = len(runs) - 1
    history = f"; with {earlier} earlier run{'s' * (earlier > 1)}" if earlier > 0 else ""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if running else "",
        f"<title>roadmap report: {esc(title)}</title>",
        f"<style>{PAGE_STYLE}{TIMELINE_STYLE}</style></head><body>",
        f"<header><h1>Roadmap report: {esc(title)}</h1>",
        f"<p>{state} run {current} started {clock(started)}; updated {clock(now)}{history}"
        + (" (this page reloads every 10 s while the run goes on)" if running else "")
        + "</p></header>",
        "<section><h2>Timeline</h2>",
        timeline_section(records, runs, now, hrefs),
        '<p class="muted">One lane per agent slot; hover a bar for its details, click it for '
        "its log. Dashed lines mark where a group began; a shaded band is a wait of every "
        "agent (usage limit, memory).</p></section>",
        "<section><h2>Groups</h2>",
        groups_table(group_stats(records, runs, now)),
        "</section>",
    ]
    out.append(marks_section(final.values()))
    if failures:
        out.append("<section><h2>Failures</h2><table><thead><tr><th>step</th><th>group</th>"
                   "<th>run</th><th>reason</th><th>log</th></tr></thead><tbody>")  # fmt: skip
        for record in failures:
            href = hrefs.get(record.log, "")
            log = f'<a href="{esc(href, quote=True)}">{esc(record.log)}</a>' if href else ""
            reason = (record.reason or record.outcome).splitlines()[0] if record.reason else ""
            out.append(
                f"<tr><td>{esc(record.name)}</td><td>{esc(record.group)}</td>"
                f"<td>{record.run}</td><td>{esc(reason or record.outcome)}</td><td>{log}</td></tr>"
            )
        out.append("</tbody></table></section>")
    if resume:
        out.append(f"<section><h2>Resume</h2><pre>{esc(resume)}</pre></section>")
    out.append("</body></html>")
    return "\n".join(line for line in out if line) + "\n"
