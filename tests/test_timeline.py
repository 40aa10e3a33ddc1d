"""The timeline's layout and the report page, without a run: lanes, positions, marks, tables."""

from __future__ import annotations

import re

import pytest

from pytest_roadmap.report import timeline
from pytest_roadmap.report.page import group_stats
from pytest_roadmap.report.page import latest
from pytest_roadmap.report.page import render_page
from pytest_roadmap.report.timeline import LEFT
from pytest_roadmap.report.timeline import RIGHT
from pytest_roadmap.report.timeline import RUN_GAP
from pytest_roadmap.report.timeline import RunMark
from pytest_roadmap.report.timeline import StepRecord
from pytest_roadmap.report.timeline import layout
from pytest_roadmap.report.timeline import render_svg
from pytest_roadmap.segments import Segment

T0 = 1_800_000_000.0
WIDTH = 1000
ROOM = WIDTH - LEFT - RIGHT


def task(name: str, lane: str, start: float, end: float | None, **kw: object) -> StepRecord:
    spans = kw.pop("spans", None)
    if spans is None and end is not None:
        spans = (Segment("agent", T0 + start, T0 + end, str(kw.get("outcome", "passed"))),)
    fields: dict[str, object] = {
        "run": 1,
        "key": f"phase1::groupA::{name}",
        "name": name,
        "kind": "task",
        "group": "Phase 1 · Group A",
        "title": f"Task {name}",
        "lane": lane,
        "outcome": "passed",
        "start": T0 + start,
        "end": None if end is None else T0 + end,
        "spans": spans or (),
        **kw,
    }
    return StepRecord(**fields)  # type: ignore[arg-type]


def gate(start: float, end: float, group: str = "A", **kw: object) -> StepRecord:
    fields: dict[str, object] = {
        "run": 1,
        "key": f"phase1::group{group}::gate",
        "name": f"gate 1·{group}",
        "kind": "gate",
        "group": f"Phase 1 · Group {group}",
        "title": f"Phase 1 Group {group} gate",
        "lane": "gw0",
        "outcome": "passed",
        "start": T0 + start,
        "end": T0 + end,
        "spans": (Segment("gate", T0 + start, T0 + end),),
        **kw,
    }
    return StepRecord(**fields)  # type: ignore[arg-type]


def run(number: int = 1, start: float = 0, end: float | None = 100, **kw: object) -> RunMark:
    slots = kw.pop("slots", ("gw0", "gw1", "gw2"))
    return RunMark(number, T0 + start, None if end is None else T0 + end, slots, **kw)  # type: ignore[arg-type]


def bars(plan: timeline.Layout, kind: str | None = None) -> list[timeline.Bar]:
    return [b for b in plan.bars if kind is None or b.kind == kind]


def test_one_lane_per_slot_even_an_idle_one_in_natural_order() -> None:
    records = [task("A1", "gw0", 0, 50), task("A2", "gw10", 0, 20)]
    slots = ("gw0", "gw1", "gw2", "gw10")
    plan = layout(records, [run(slots=slots)], T0 + 100, width=WIDTH)
    assert plan.lanes == ["gw0", "gw1", "gw2", "gw10"]
    a1, a2 = bars(plan, "agent")
    assert (a1.lane, a2.lane) == (0, 3)
    assert a2.y == pytest.approx(plan.lane_y(3) + (timeline.LANE_HEIGHT - timeline.BAR_HEIGHT) / 2)


def test_a_serial_run_has_one_lane() -> None:
    plan = layout([task("A1", "main", 0, 10)], [run(slots=("main",))], T0 + 10, width=WIDTH)
    assert plan.lanes == ["main"]


def test_positions_are_proportional_to_time() -> None:
    records = [task("A1", "gw0", 25, 75), task("A2", "gw1", 0, 100)]
    plan = layout(records, [run()], T0 + 100, width=WIDTH)
    a1, a2 = bars(plan, "agent")
    assert a2.x == pytest.approx(LEFT)
    assert a2.width == pytest.approx(ROOM)
    assert a1.x == pytest.approx(LEFT + ROOM / 4)
    assert a1.width == pytest.approx(ROOM / 2)
    assert a1.label == "A1"  # wide enough for its id
    assert [t.label for t in plan.ticks][:3] == ["0s", "10s", "20s"]


def test_a_short_bar_keeps_a_minimum_width_and_drops_its_label() -> None:
    records = [task("A1", "gw0", 0, 0.001), task("A2", "gw1", 0, 1000)]
    a1, _ = bars(layout(records, [run(end=1000)], T0 + 1000, width=WIDTH), "agent")
    assert a1.width == timeline.MIN_BAR
    assert a1.label == ""


def test_group_boundaries_are_lines_where_each_group_began() -> None:
    b1 = task("B1", "gw1", 60, 90, key="phase1::groupB::B1", group="Phase 1 · Group B")
    records = [task("A1", "gw0", 10, 40), gate(40, 50), b1]
    plan = layout(records, [run()], T0 + 100, width=WIDTH)
    lines = {line.label: line for line in plan.lines if line.kind == "group"}
    assert set(lines) == {"1·A", "1·B"}
    assert lines["1·A"].x == pytest.approx(LEFT + ROOM * 0.1)
    assert lines["1·B"].x == pytest.approx(LEFT + ROOM * 0.6)
    assert lines["1·B"].tooltip == "Phase 1 · Group B"


def test_a_task_that_waited_and_retried_has_a_bar_per_attempt_and_its_waits() -> None:
    spans = (
        Segment("stagger_wait", T0 + 0, T0 + 5),
        Segment("agent", T0 + 5, T0 + 20, "agent exited with code 1: HTTP 529"),
        Segment("retry_wait", T0 + 20, T0 + 30),
        Segment("agent", T0 + 30, T0 + 60, "passed"),
    )
    record = task("A1", "gw0", 0, 60, spans=spans, turns=7, cost=0.25, log="logs/a1.log")
    plan = layout([record], [run()], T0 + 100, width=WIDTH, log_href={"logs/a1.log": "../a.log"})
    first, second = bars(plan, "agent")
    assert (first.outcome, first.marks) == ("failed", ())
    assert (second.outcome, second.marks) == ("passed", ("retry",))
    assert "attempt 1 of 2: agent exited with code 1: HTTP 529" in first.tooltip
    assert "turns 7, cost $0.2500" in second.tooltip
    assert first.href == second.href == "../a.log"
    waits = [b for b in plan.bars if b.kind in ("stagger_wait", "retry_wait")]
    assert [w.kind for w in waits] == ["stagger_wait", "retry_wait"]
    assert all(w.height < first.height for w in waits)
    assert waits[1].x == pytest.approx(LEFT + ROOM * 0.2)


def test_a_resumed_session_is_marked() -> None:
    (bar,) = bars(layout([task("A1", "gw0", 0, 10, resumed=True)], [run()], T0 + 100), "agent")
    assert bar.marks == ("resumed",)
    assert "resumed an earlier session" in bar.tooltip


def test_run_wide_waits_span_every_lane() -> None:
    waits = (
        Segment("limit_wait", T0 + 20, T0 + 40, "five_hour limit"),
        Segment("memory_wait", T0 + 50, T0 + 55),
    )
    plan = layout([task("A1", "gw0", 0, 10)], [run(waits=waits)], T0 + 100, width=WIDTH)
    limit, memory = (b for b in plan.bars if b.lane == -1)
    assert (limit.kind, memory.kind) == ("limit_wait", "memory_wait")
    assert limit.height == 3 * timeline.LANE_HEIGHT
    assert limit.x == pytest.approx(LEFT + ROOM * 0.2)
    assert "usage-limit wait (all agents): five_hour limit" in limit.tooltip
    assert "memory wait" in memory.tooltip


def test_a_gate_with_its_repair_agent() -> None:
    spans = (
        Segment("gate", T0 + 0, T0 + 10),
        Segment("repair", T0 + 10, T0 + 30, "ok"),
        Segment("gate", T0 + 30, T0 + 40),
    )
    record = gate(0, 40, spans=spans, repair_logs=("logs/fix1.log",))
    plan = layout([record], [run()], T0 + 100, log_href={"logs/fix1.log": "fix1"})
    assert [(b.kind, b.outcome) for b in plan.bars] == [
        ("gate", "failed"),
        ("gate", "passed"),
        ("repair", "passed"),
    ]
    assert plan.bars[2].href == "fix1"


def test_a_commit_is_one_bar_from_its_report_times() -> None:
    commit = StepRecord(1, "phase1::commit", "commit 1", "commit", "Phase 1", "", "gw1",
                        "passed", T0 + 90, T0 + 91)  # fmt: skip
    (bar,) = layout([commit], [run()], T0 + 100).bars
    assert (bar.kind, bar.step, bar.lane) == ("commit", "commit 1", 1)


def test_an_interrupted_run_ends_its_bars_where_it_stopped() -> None:
    spans = (Segment("agent", T0 + 10, T0 + 40, "interrupted"),)
    records = [
        task("A1", "gw0", 0, 20),
        task("A2", "gw1", 10, 40, outcome="interrupted", reason="interrupted", spans=spans),
    ]
    plan = layout(records, [run(end=40)], T0 + 500, width=WIDTH)
    _, a2 = bars(plan, "agent")
    assert a2.outcome == "interrupted"
    assert a2.x + a2.width == pytest.approx(LEFT + ROOM)  # the run's end, not now
    assert not [line for line in plan.lines if line.kind == "now"]


def test_a_running_task_grows_to_now() -> None:
    records = [task("A1", "gw0", 0, 20), task("A2", "gw1", 10, None, outcome="running")]
    plan = layout(records, [run(end=None)], T0 + 50, width=WIDTH)
    _, a2 = bars(plan, "agent")
    assert a2.outcome == "running"
    assert a2.x + a2.width == pytest.approx(LEFT + ROOM)
    (now,) = [line for line in plan.lines if line.kind == "now"]
    assert now.x == pytest.approx(LEFT + ROOM)


def test_earlier_runs_get_their_own_marked_section_without_the_pause_between() -> None:
    day = 86_400.0
    records = [
        task("A1", "gw0", 0, 50, outcome="failed", reason="boom"),
        task("A1", "gw0", day, day + 50, run=2),
    ]
    runs = [run(1, 0, 50), run(2, day, day + 50)]
    plan = layout(records, runs, T0 + day + 50, width=WIDTH)
    half = (ROOM - RUN_GAP) / 2
    assert plan.sections[1] == pytest.approx((LEFT, LEFT + half))
    assert plan.sections[2] == pytest.approx((LEFT + half + RUN_GAP, LEFT + ROOM))
    assert [line.label for line in plan.lines if line.kind == "run"] == ["run 1", "run 2"]
    first, second = bars(plan, "agent")
    assert (first.run, first.outcome, second.run) == (1, "failed", 2)
    assert latest(records)["phase1::groupA::A1"].run == 2


def test_group_stats_count_the_latest_outcome_and_the_idle_slots() -> None:
    records = [
        task("A1", "gw0", 0, 100, cost=1.0),
        task("A2", "gw1", 0, 20, cost=0.5),
        task("A3", "gw2", 0, 10, outcome="failed", reason="boom"),
        gate(100, 110),
    ]
    (stats,) = group_stats(records, [run()], T0 + 120)
    assert (stats.passed, stats.failed, stats.skipped) == (2, 1, 0)
    assert stats.agent_time == pytest.approx(130)
    assert stats.wall_time == pytest.approx(110)
    assert stats.idle_time == pytest.approx(3 * 100 - 130)
    assert stats.cost == pytest.approx(1.5)


def test_the_svg_loads_nothing_and_names_every_bar() -> None:
    records = [task("A1", "gw0", 0, 50, log="logs/a 1.log"), gate(50, 60)]
    svg = render_svg(layout(records, [run()], T0 + 100, log_href={"logs/a 1.log": "a%201.log"}))
    assert re.findall(r'data-step="([^"]+)"', svg) == ["A1", "gate 1·A"]
    assert '<a href="a%201.log">' in svg
    for banned in ("<script", "src=", "url(", "http:", "https:", "@import"):
        assert banned not in svg


def test_the_page_says_running_and_reloads_only_while_running() -> None:
    records = [task("A1", "gw0", 0, 50, outcome="failed", reason="boom\nmore", log="l.log")]
    running = render_page("ROADMAP.md", records, [run(end=None)], T0 + 60, running=True)
    assert '<meta http-equiv="refresh" content="10">' in running
    assert 'class="state running"' in running
    done = render_page(
        "ROADMAP.md", records, [run()], T0 + 60, running=False, resume="pytest --roadmap R"
    )
    assert "refresh" not in done
    assert 'class="state finished failed"' in done
    assert "<td>boom</td>" in done
    assert "<pre>pytest --roadmap R</pre>" in done


def test_records_survive_a_json_round_trip() -> None:
    spans = (Segment("agent", T0, T0 + 1, "passed"),)
    record = task("A1", "gw0", 0, 1, spans=spans, turns=3, cost=0.1, repair_logs=("x",))
    assert StepRecord.from_json(record.to_json()) == record
    mark = run(waits=(Segment("limit_wait", T0, T0 + 5, "x"),))
    assert RunMark.from_json(mark.to_json()) == mark
