"""Unattended runs: usage limits waited out or stopped at, stalled agents, notify commands.

The fake agent meets a usage limit the way Claude Code 2.1 does (``--limit-until``), or
goes silent (``--hang-first``); every run here is bounded by its pytester timeout.
"""

from __future__ import annotations

import re
import shlex
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import Project

TIMEOUT = 120
#: seconds from now to a usage limit's end: more than a run takes to reach its first agent
SOON = 10.0
MODES = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]

TWO_THEN_ONE = """\
# Limits

## Phase 1: Work

### Group A: Pair
- **A1: First** - one
- **A2: Second** - two

### Group B: After
- **B1: Third** - three
"""


def starts(project: Project, task: str) -> list[dict[str, object]]:
    return [r for r in project.records("start") if r["task"] == task]


def junit_props(xml: Path, name: str) -> dict[str, str]:
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.get("name") == name:
            return {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    raise AssertionError(f"no test case {name}")


# -- usage limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_usage_limit_pauses_the_run_and_the_tasks_continue_their_sessions(
    project: Project, mode: tuple[str, ...]
) -> None:
    project.roadmap(TWO_THEN_ONE)
    until = time.time() + SOON
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    # under xdist A1 and A2 wait for each other: both run when the limit comes
    meet = ("--meet", str(project.path.parent / f"{project.path.name}-meet")) if mode else ()
    result = project.run(
        *mode,
        f"--junitxml={xml}",
        agent=project.agent("--stream-json", *meet, "--limit-until", str(until)),
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    assert re.search(
        r"usage limit \(5-hour\) reached: waiting until \d\d:\d\d \(in \d+s\); Ctrl-C stops", out
    )
    assert "usage limit (5-hour) over: the run goes on" in out
    # under xdist both agents ran into the limit; serially A2 started after the reset
    waited = ("A1", "A2") if mode else ("A1",)
    for task in waited:
        _, second = starts(project, task)
        assert "usage limit" in str(second["prompt"]) and "Continue Phase 1" in str(
            second["prompt"]
        )
        props = junit_props(xml, task)
        assert props["limit_type"] == "five_hour" and float(props["limit_wait_s"]) > 0
        assert "retries" not in props  # a wait is no retry
    if not mode:
        assert len(starts(project, "A2")) == 1
        assert float(str(starts(project, "A2")[0]["start"])) >= until
    # nothing started while the run waited: B1 only after the reset, once
    (b1,) = starts(project, "B1")
    assert float(str(b1["start"])) >= until
    names = ", ".join(rf"{task} \S+ \(five_hour\)" for task in waited)
    assert re.search(rf"waited for a usage limit: {names}\n", out)


@pytest.mark.parametrize(
    ("form", "reset"),
    [("old", None), ("text", None), ("event", "none")],
    ids=["claude-old-text", "claude-new-text-only", "unknown-reset"],
)
def test_every_form_of_the_limit_is_waited_for(
    project: Project, form: str, reset: str | None
) -> None:
    project.roadmap(TWO_THEN_ONE)
    until = time.time() + SOON
    flags = ["--stream-json", "--limit-until", str(until), "--limit-form", form]
    if reset is not None:
        flags += ["--limit-reset", reset]
    result = project.run("-o", "roadmap_limit_poll=3", agent=project.agent(*flags), timeout=TIMEOUT)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert "usage limit" in out and "over: the run goes on" in out
    assert len(starts(project, "A1")) >= 2 and len(starts(project, "B1")) == 1
    if reset == "none":
        assert "its reset time is unknown: trying again at" in out


def test_a_second_limit_after_the_reset_waits_again(project: Project) -> None:
    """The account says it resets at +1 s, but refuses until +20 s: wait, meet it again,
    wait a poll (or more), go on; never a failure."""
    project.roadmap(TWO_THEN_ONE)
    now = time.time()
    flags = ["--stream-json", "--limit-until", str(now + 2 * SOON), "--limit-reset", str(now + 1)]
    result = project.run("-o", "roadmap_limit_poll=2", agent=project.agent(*flags), timeout=TIMEOUT)
    out = result.stdout.str()
    assert result.ret == 0, out
    assert len(starts(project, "A1")) >= 3
    assert "failed" not in out.split("short test summary")[0].lower().replace("0 failed", "")


def test_limit_wait_zero_stops_at_once_and_the_next_run_resumes(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    reset = time.time() + 3600
    started = time.monotonic()
    meet = str(project.path.parent / f"{project.path.name}-meet")  # A1 and A2 both run
    result = project.run(
        "-n",
        "2",
        "--roadmap-limit-wait",
        "0",
        agent=project.agent("--stream-json", "--meet", meet, "--limit-until", str(reset)),
        timeout=TIMEOUT,
    )
    took = time.monotonic() - started
    out = result.stdout.str()
    assert result.ret == 1
    assert re.search(
        r"stopping: usage limit \(5-hour\) reached: "
        r"resets at (\w{3} )?\d\d:\d\d \(in (59m|1h 00m)\); "
        r"--roadmap-limit-wait is 0; resume after the reset with: pytest ",
        out,
    ), out
    assert sorted(project.status("interrupted_tasks.txt")) == ["PHASE_1:A:A1", "PHASE_1:A:A2"]
    assert not starts(project, "B1")  # nothing later started
    assert took < TIMEOUT
    # after the reset: the same command runs them, then the rest
    again = project.run("-n", "2", agent=project.agent("--stream-json"), timeout=TIMEOUT)
    assert again.ret == 0, again.stdout.str()
    assert [len(starts(project, t)) for t in ("A1", "A2", "B1")] == [2, 2, 1]
    assert sorted(project.status("interrupted_tasks.txt")) == []


def test_a_reset_beyond_the_limit_wait_stops_the_run(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    result = project.run(
        "--roadmap-limit-wait",
        "60",
        agent=project.agent("--stream-json", "--limit-until", str(time.time() + 7200)),
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret != 0
    assert "longer than --roadmap-limit-wait allows (1m)" in out
    assert len(starts(project, "A1")) == 1 and not starts(project, "A2")


def test_a_limit_warning_is_said_once_and_nothing_stops(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    warning = str(time.time() + 7200)
    result = project.run(
        "-n", "2", agent=project.agent("--stream-json", "--limit-warning", warning), timeout=TIMEOUT
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    assert out.count("usage limit (5-hour) almost reached: resets at") == 1
    assert len(project.records("start")) == 3


# -- stalled agents --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_silent_agent_is_ended_and_retried(project: Project, mode: tuple[str, ...]) -> None:
    project.roadmap(TWO_THEN_ONE)
    counter = project.path.parent / f"{project.path.name}-counter"
    agent = project.agent("--stream-json", "--hang-first", "1", "--counter", str(counter))
    result = project.run(
        *mode,
        "--roadmap-idle-timeout",
        "1",
        "-o",
        "roadmap_retry_backoff=0",
        agent=agent,
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    assert sum(len(starts(project, t)) for t in ("A1", "A2")) == 3  # one of them hung once
    ends = {r["pid"] for r in project.records("end")}
    hung = [r for r in project.records("start") if r["pid"] not in ends]
    assert len(hung) == 1 and not _alive(int(str(hung[0]["pid"])))


def test_a_stall_with_no_retries_left_fails_with_the_reason(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    result = project.run(
        "--roadmap-idle-timeout",
        "1",
        "--roadmap-retries",
        "0",
        agent=project.agent("--stream-json"),
        plan={"A1": ["--hang"]},
        timeout=TIMEOUT,
    )
    assert "A1 failed" in result.stdout.str()
    assert "Task A1 stalled: no output for 1s" in result.stdout.str()


def test_an_agent_that_keeps_talking_is_not_stalled(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    result = project.run(
        "--roadmap-idle-timeout",
        "1",
        agent=project.agent("--stream-json"),
        plan={"A1": ["--sleep", "3", "--tick", "0.3"]},
        timeout=TIMEOUT,
    )
    assert result.ret == 0, result.stdout.str()
    assert len(starts(project, "A1")) == 1


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- notify commands ---------------------------------------------------------------------------

HOSTILE = """\
# Notify

## Phase 1: Work

### Group A: $(touch pwned-a) `touch pwned-b`
- **A1: "; touch pwned-c; echo "** - one
- **A2: Second** - two

### Group B: After
- **B1: Third** - three

## Phase 2: More

### Group C: End
- **C1: Last** - four
"""

RECORD = (
    'printf "%s|%s|%s|%s\\n" "$ROADMAP_EVENT" "$ROADMAP_PHASE" "$ROADMAP_GROUP" "$ROADMAP_MESSAGE"'
)


def test_notify_commands_hear_every_event_in_order_through_the_environment(
    project: Project,
) -> None:
    project.roadmap(HOSTILE)
    events_file = project.path.parent / f"{project.path.name}-events.txt"
    result = project.run(
        "-n",
        "2",
        "--roadmap-notify",
        f"{RECORD} >> {shlex.quote(str(events_file))}",
        agent=project.agent("--stream-json", "--write", "out.txt"),
        plan={
            "A1": ["--write", "a1.txt"],
            "B1": ["--write", "b1.txt"],
            "C1": ["--write", "c1.txt"],
        },
        timeout=TIMEOUT,
    )
    assert result.ret == 0, result.stdout.str()
    events = [e.split("|") for e in events_file.read_text().splitlines()]
    assert [e[:3] for e in events] == [
        ["group_passed", "1", "A"],
        ["group_passed", "1", "B"],
        ["phase_committed", "1", ""],
        ["group_passed", "2", "C"],
        ["phase_committed", "2", ""],
        ["run_finished", "", ""],
    ]
    assert events[0][3].startswith("Phase 1 Group A gate passed: 2 tasks")
    assert events[-1][3] == "roadmap run finished: 4 passed, 0 failed, 0 skipped; cost $0.0492"
    assert not list(project.path.parent.glob("pwned*")) and not list(project.path.glob("pwned*"))


def test_a_failing_or_hanging_notify_command_changes_nothing(project: Project) -> None:
    project.roadmap(TWO_THEN_ONE)
    started = time.monotonic()
    result = project.run(
        "-n",
        "2",
        "--roadmap-notify",
        "echo nope; exit 3",
        "--roadmap-notify",
        "sleep 600",
        "-o",
        "roadmap_notify_timeout=1",
        agent=project.agent("--stream-json"),
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 0, out
    assert (
        "warning: notify command 'echo nope; exit 3' (group_passed) exited with code 3: nope" in out
    )
    assert "warning: notify command 'sleep 600' (group_passed) ended after 1s" in out
    assert time.monotonic() - started < TIMEOUT
