"""Benchmark 5: what keeping the HTML report current costs.

- *Rewrite*: one rewrite of ``status/roadmap-report.html`` (render the page, link the logs,
  atomic replace) for a 1,000-task roadmap (100 groups of 10, 4 agent slots), with a
  tenth, half and all of its tasks recorded; the least of several rewrites each.
- *Replay*: a run of those 1,000 tasks taking a second each at ``-n 4``, replayed in
  simulated time: the report is rewritten exactly as the writer paces it
  (``html_report.pace``: every 3 s, or 100 times the quickest of the last 3 rewrites when
  that is longer), each rewrite real and timed, of the records the run would have by then. The
  overhead is the rewrites' summed time over the run's simulated length.
- *Side by side*: ``pytest --roadmap`` on N zero-duration tasks (agent ``true``), serially,
  with the report and with ``--roadmap-report none``, the least of several runs each: the
  extra wall and CPU time per task, which a one-second task would pay as well.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from common import Result
from common import Table
from common import Target
from common import clean_env
from common import expect_passed
from common import fmt
from common import layout_of
from common import log
from common import project
from common import roadmap_argv
from common import roadmap_text
from common import run_timed

TARGET_OVERHEAD_PCT = 1.0
SLOTS = 4
TASK_SECONDS = 1.0
GATE_SECONDS = 0.2
PER_GROUP = 10

MODES: dict[str, tuple[int, int, int, int]] = {
    # tasks (in-process), rewrites timed per fill level, tasks of the real runs, runs of each
    "full": (1000, 5, 1000, 3),
    "quick": (1000, 3, 200, 1),
    "smoke": (100, 2, 20, 1),
}


def synthetic_run(tasks: int, seed: int = 18) -> list[object]:
    """Step records of ``tasks`` tasks of about a second each, groups of 10, 4 slots.

    Returned in the order they finish, each with its end time.
    """
    from pytest_roadmap.report.timeline import StepRecord
    from pytest_roadmap.segments import Segment

    rng = random.Random(seed)
    start = 1_800_000_000.0
    now = start
    records: list[object] = []
    groups = (tasks + PER_GROUP - 1) // PER_GROUP
    for g in range(groups):
        phase = g // 10 + 1
        group = f"Phase {phase} · Group G{g}"
        free = [now] * SLOTS
        for i in range(min(PER_GROUP, tasks - g * PER_GROUP)):
            lane = min(range(SLOTS), key=free.__getitem__)
            began = free[lane]
            took = TASK_SECONDS * rng.uniform(0.8, 1.2)
            name = f"G{g}T{i}"
            records.append(
                StepRecord(
                    1,
                    f"phase{phase}::groupG{g}::{name}",
                    name,
                    "task",
                    group,
                    f"Task {name}",
                    f"gw{lane}",
                    "passed",
                    began,
                    began + took,
                    "",
                    (Segment("agent", began, began + took, "passed"),),
                    3,
                    0.0123,
                    f"logs/orchestrator/phase{phase}_groupG{g}_{name}_1.log",
                )
            )
            free[lane] = began + took
        now = max(free)
        records.append(
            StepRecord(
                1,
                f"phase{phase}::groupG{g}::gate",
                f"gate {phase}·G{g}",
                "gate",
                group,
                "gate",
                "gw0",
                "passed",
                now,
                now + GATE_SECONDS,
                "",
                (Segment("gate", now, now + GATE_SECONDS),),
            )
        )
        now += GATE_SECONDS
    return records


def rewrite_seconds(records: list[object], folder: Path, now: float, running: bool) -> float:
    """Time of one rewrite as the writer does it: render, link the logs, atomic replace."""
    from pytest_roadmap.paths import atomic_write
    from pytest_roadmap.report.html import log_links
    from pytest_roadmap.report.page import render_page
    from pytest_roadmap.report.timeline import RunMark

    slots = tuple(f"gw{i}" for i in range(SLOTS))
    start = min(r.start for r in records) if records else now  # type: ignore[attr-defined]
    mark = RunMark(1, start, None if running else now, slots)
    began = time.perf_counter()
    page = render_page(
        "ROADMAP.md",
        records,  # type: ignore[arg-type]
        [mark],
        now,
        running=running,
        log_href=log_links(records, folder.parent, folder),  # type: ignore[arg-type]
    )
    atomic_write(folder / "roadmap-report.html", page, durable=not running)
    return time.perf_counter() - began


def replay(records: list[object], folder: Path) -> tuple[float, int, float, float]:
    """Rewrites paced as the writer paces them over the simulated run.

    Returns (the rewrites' summed seconds, their number, the run's simulated seconds,
    the longest rewrite).
    """
    from pytest_roadmap.report.html import PACE_WINDOW
    from pytest_roadmap.report.html import pace

    first = min(r.start for r in records)  # type: ignore[attr-defined]
    last = max(r.end for r in records)  # type: ignore[attr-defined]
    clock, spent, count, longest = first, 0.0, 0, 0.0
    recent: list[float] = []
    while True:
        done = [r for r in records if r.end <= clock]  # type: ignore[attr-defined]
        final = clock >= last
        took = rewrite_seconds(done, folder, clock, running=not final)
        spent, count, longest = spent + took, count + 1, max(longest, took)
        if final:
            return spent, count, last - first, longest
        recent = [*recent[-(PACE_WINDOW - 1) :], took]
        clock = min(last, clock + pace(recent))


def run(mode: str) -> Result:
    tasks, repeats, real_tasks, runs = MODES[mode]
    result = Result()
    records = synthetic_run(tasks)
    table = Table(
        f"Keeping the HTML report current: one rewrite, {tasks}-task roadmap",
        ["tasks recorded", "page KiB", "rewrite ms (least)", "rewrite ms (median)"],
    )
    per_fill: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="roadmap-bench-report-") as tmp:
        folder = Path(tmp) / "status"
        folder.mkdir()
        for share in (0.1, 0.5, 1.0):
            done = records[: max(1, int(len(records) * share))]
            now = max(r.end for r in done) + 0.5  # type: ignore[attr-defined]
            log(f"report: rewrite with {len(done)} records")
            times = sorted(rewrite_seconds(done, folder, now, True) for _ in range(repeats))
            size = (folder / "roadmap-report.html").stat().st_size / 1024
            recorded = sum(1 for r in done if r.kind == "task")  # type: ignore[attr-defined]
            per_fill[f"{share:.0%}"] = times[0]
            table.rows.append(
                [
                    str(recorded),
                    fmt(size, 0),
                    fmt(times[0] * 1000, 1),
                    fmt(times[len(times) // 2] * 1000, 1),
                ]
            )
        log(f"report: replaying a run of {tasks} one-second tasks at -n {SLOTS}")
        spent, count, length, longest = replay(records, folder)
    overhead_pct = spent / length * 100
    table.notes.append(
        "a rewrite renders the whole page (timeline SVG, tables) and replaces the file; its "
        "cost grows with the records, not with the run's length"
    )
    replay_table = Table(
        f"Replay: {tasks} tasks of ~{TASK_SECONDS:g} s at -n {SLOTS}, rewrites paced as in a run",
        ["run length s", "rewrites", "their total s", "longest ms", "share of the run"],
        [
            [
                fmt(length, 0),
                str(count),
                fmt(spent, 2),
                fmt(longest * 1000, 1),
                f"{overhead_pct:.2f} %",
            ]
        ],
        notes=[
            "simulated time; every rewrite is real and timed; the controller's thread does "
            "them, the agents run on meanwhile, so the run's makespan loses at most this much"
        ],
    )
    side = _side_by_side(real_tasks, runs)
    result.tables += [table, replay_table, side.table]
    # what a one-second task pays: the per-task bookkeeping, besides the paced rewrites
    event_pct = max(0.0, side.extra_per_task) / TASK_SECONDS * 100
    total_pct = overhead_pct + event_pct
    result.metrics["report_rewrite_ms"] = per_fill["100%"] * 1000
    result.metrics["report_overhead_pct"] = total_pct
    result.targets.append(
        Target(
            "keeping the HTML report current",
            total_pct,
            TARGET_OVERHEAD_PCT,
            "%",
            f"{tasks} tasks of {TASK_SECONDS:g} s at -n {SLOTS} (replay) + per-task cost "
            f"measured on {real_tasks} tasks",
        )
    )
    result.raw["report"] = {
        "rewrite_s": per_fill,
        "replay": {"spent_s": spent, "rewrites": count, "length_s": length},
        "side_by_side": side.raw,
        "overhead_pct": total_pct,
    }
    return result


class _Side:
    def __init__(self, table: Table, extra_per_task: float, raw: dict[str, object]) -> None:
        self.table, self.extra_per_task, self.raw = table, extra_per_task, raw


def _side_by_side(tasks: int, runs: int) -> _Side:
    """The same roadmap with and without the report, serially, least of ``runs`` each."""
    table = Table(
        f"Side by side: {tasks} zero-duration tasks, serial, with and without the report",
        ["report", "wall s (least)", "CPU s (least)"],
    )
    best: dict[str, tuple[float, float]] = {}
    files = {"ROADMAP.md": roadmap_text(layout_of(1, max(1, tasks // PER_GROUP), PER_GROUP))}
    with project("report", files) as proj:
        for _ in range(runs):  # alternate, so that load changes hit both alike
            for name, extra in (("on", ()), ("none", ("--roadmap-report", "none"))):
                proj.reset()
                log(f"report: {tasks} tasks, report {name}")
                done = run_timed(roadmap_argv("true", *extra), proj.path, clean_env())
                expect_passed(done, tasks, f"report {name}")
                wall, cpu = best.get(name, (float("inf"), float("inf")))
                best[name] = (min(wall, done.seconds), min(cpu, done.cpu_seconds))
    for name in ("on", "none"):
        table.rows.append([name, fmt(best[name][0], 2), fmt(best[name][1], 2)])
    extra = (best["on"][0] - best["none"][0]) / tasks
    extra_cpu = (best["on"][1] - best["none"][1]) / tasks
    table.notes.append(
        f"extra per task: {extra * 1000:.2f} ms wall, {extra_cpu * 1000:.2f} ms CPU "
        "(start and end bookkeeping, and the rewrites of a run this short)"
    )
    raw = {"best": best, "extra_per_task_s": extra, "extra_cpu_per_task_s": extra_cpu}
    return _Side(table, extra, raw)
