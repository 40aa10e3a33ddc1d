"""The usage reserve: the allowance's use read from ``rate_limit_event``s, and new tasks
held while a window is over 100 - reserve %.

The fake agent reports the 5-hour window's utilization the way Claude Code 2.1.328 does
(``--utilization``); every run is bounded by its pytester timeout.
"""

from __future__ import annotations

import re
import shlex
import time

import pytest

from pytest_roadmap.model.usage import WindowUsage
from pytest_roadmap.model.usage import from_event
from pytest_roadmap.model.usage import usage_text

from .conftest import Project

TIMEOUT = 120
#: seconds from now to the window's reset: more than the first group takes
SOON = 10.0
RESET = 1796530206

TWO_THEN_ONE = """\
# Reserve

## Phase 1: Work

### Group A: Pair
- **A1: First** - one
- **A2: Second** - two

### Group B: After
- **B1: Third** - three
"""


def starts(project: Project, task: str) -> list[float]:
    return [float(r["start"]) for r in project.records("start") if r["task"] == task]


# -- reading the usage ---------------------------------------------------------------------


def test_an_allowed_warning_event_gives_its_window_and_the_unified_windows() -> None:
    window = {"utilization": 0.93, "resetsAt": RESET, "status": "allowed_warning"}
    weekly = {"utilization": 0.41, "resetsAt": RESET * 1000, "status": "allowed"}
    event = {
        "type": "rate_limit_event",
        "rate_limit_info": {
            "status": "allowed_warning",
            "resetsAt": RESET,
            "rateLimitType": "five_hour",
            "utilization": 0.93,
            "surpassedThreshold": 0.9,
            "unifiedWindows": {"five_hour": window, "seven_day": weekly},
        },
    }
    assert from_event(event) == [
        WindowUsage("five_hour", 0.93, RESET),
        WindowUsage("seven_day", 0.41, RESET),  # milliseconds read as such
    ]
    assert usage_text(from_event(event)) == "allowance used: 5-hour 93%, weekly 41%"


def test_an_allowed_event_with_only_its_own_window() -> None:
    info = {"status": "allowed", "rateLimitType": "seven_day_opus", "utilization": 0.5}
    assert from_event({"rate_limit_info": info}) == [WindowUsage("seven_day_opus", 0.5, None)]
    assert WindowUsage("seven_day_opus", 0.5).name == "weekly Opus"


@pytest.mark.parametrize(
    "info",
    [
        {"status": "rejected", "resetsAt": RESET, "rateLimitType": "five_hour"},  # no utilization
        {"status": "allowed", "utilization": 0.5},  # no window
        {"rateLimitType": "five_hour", "utilization": "much"},
        {"rateLimitType": "five_hour", "utilization": -1},
        {"rateLimitType": "five_hour", "utilization": True},
        {"unifiedWindows": {"five_hour": "full", "": {"utilization": 1}}},
        {"unifiedWindows": ["five_hour"]},
        "rejected",
    ],
)
def test_missing_or_odd_fields_report_no_window(info: object) -> None:
    assert from_event({"type": "rate_limit_event", "rate_limit_info": info}) == []


def test_a_window_crosses_the_channel_as_plain_values() -> None:
    window = WindowUsage("five_hour", 0.999, RESET)
    assert WindowUsage.of(window.as_dict()) == window
    assert window.percent == 99  # not yet 100
    assert WindowUsage.of({"kind": "", "utilization": 0.5}) is None
    assert WindowUsage.of({"kind": "five_hour"}) is None


# -- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["100", "-1", "ten", "150%"])
def test_a_bad_reserve_is_one_clear_line(project: Project, value: str) -> None:
    project.roadmap(TWO_THEN_ONE)
    result = project.run("--roadmap-usage-reserve", value, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"invalid percentage {value!r} from --roadmap-usage-reserve" in result.stderr.str()
    assert not project.records()


# -- holding new tasks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]
)
def test_a_reserve_holds_the_next_task_until_the_window_resets(
    project: Project, mode: tuple[str, ...]
) -> None:
    project.roadmap(TWO_THEN_ONE)
    events = project.path.parent / f"{project.path.name}-events.txt"
    record = 'printf "%s|%s\\n" "$ROADMAP_EVENT" "$ROADMAP_MESSAGE"'
    # each agent says the window resets SOON seconds after it started
    agent = project.agent(
        "--stream-json", "--utilization", "0.95", "--utilization-reset-in", str(SOON)
    )
    result = project.run(
        *mode,
        "--roadmap-usage-reserve",
        "10",
        "--roadmap-notify",
        f"{record} >> {shlex.quote(str(events))}",
        agent=agent,
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    line = r"5-hour window 95% used \(reserve 10%\): no new task until \d\d:\d\d \(in \d+s\)"
    assert re.search(line, out), out
    assert "5-hour window 95% used (reserve 10%): the window reset, the run goes on" in out
    assert "allowance used: 5-hour 95%" in out  # the summary
    (a1,), (a2,), (b1,) = (starts(project, task) for task in ("A1", "A2", "B1"))
    if mode:  # A1 and A2 together, before anything was reported; B1 after both resets
        assert b1 >= max(a1, a2) + SOON
    else:  # one after another: A2 after A1's reset, B1 after A2's
        assert a2 >= a1 + SOON and b1 >= a2 + SOON
    kinds = [e.split("|", 1)[0] for e in events.read_text().splitlines()]
    assert "limit_wait" in kinds and "limit_resumed" in kinds
    assert kinds.index("limit_wait") < kinds.index("limit_resumed")


def test_without_a_reserve_nothing_waits(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    reset = time.time() + 3600
    agent = project.agent(
        "--stream-json", "--utilization", "0.95", "--utilization-reset", str(reset)
    )
    result = project.run("-n", "2", agent=agent, timeout=TIMEOUT)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "no new task until" not in out
    assert "allowance used: 5-hour 95%" in out  # shown all the same
    assert max(starts(project, "B1")) < reset


def test_use_under_the_line_holds_nothing(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    reset = time.time() + 3600
    agent = project.agent(
        "--stream-json", "--utilization", "0.85", "--utilization-reset", str(reset)
    )
    result = project.run("-n", "2", "--roadmap-usage-reserve", "10", agent=agent, timeout=TIMEOUT)
    assert result.ret == 0, result.stdout.str()
    assert "no new task until" not in result.stdout.str()
    assert len(starts(project, "B1")) == 1


def test_a_reset_beyond_the_limit_wait_stops_with_the_resume_command(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    reset = time.time() + 7200
    agent = project.agent(
        "--stream-json", "--utilization", "0.95", "--utilization-reset", str(reset)
    )
    result = project.run(
        "--roadmap-usage-reserve",
        "10",
        "--roadmap-limit-wait",
        "60",
        agent=agent,
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert re.search(
        r"stopping: 5-hour window 95% used \(reserve 10%\): resets at (\w{3} )?\d\d:\d\d "
        r"\(in (1h 59m|2h 00m)\); longer than --roadmap-limit-wait allows \(1m\); "
        r"resume after the reset with: pytest ",
        out,
    ), out
    assert len(starts(project, "A1")) == 1
    assert not starts(project, "A2") and not starts(project, "B1")


def test_the_live_view_shows_the_usage_and_the_hold(project: Project) -> None:
    from .test_live_view import ANSI
    from .test_live_view import _roadmap_on_a_tty

    project.roadmap(TWO_THEN_ONE)
    agent = project.agent(
        "--stream-json", "--sleep", "2", "--utilization", "0.95", "--utilization-reset-in", "8"
    )
    args = ("--roadmap-live", "on", "--roadmap-usage-reserve", "10")
    out = _roadmap_on_a_tty(project, agent, (40, 160), *args)
    plain = ANSI.sub("", out).replace("\r", "")
    assert "· allowance used: 5-hour 95%" in plain, plain  # the footer
    assert "5-hour window 95% used (reserve 10%): no agent starts until" in plain, plain
    assert "the window reset, the run goes on" in plain, plain
