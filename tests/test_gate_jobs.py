"""Gate commands side by side (the gate jobs setting), order barriers, and the report of
every command that failed, each with its own output."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from pytest_roadmap.agents.gate_jobs import commands_of
from pytest_roadmap.agents.gate_jobs import stages

from .conftest import Project

TIMEOUT = 120

ONE_GROUP = """\
# Gate

## Phase 1: Work

### Group A: Pair
- **A1: First** - one
"""

#: a gate command that sleeps, then appends "NAME START END" (epoch seconds) to a file
TIMED = (
    "import sys, time; start = time.time(); time.sleep(float(sys.argv[3])); "
    "open(sys.argv[1], 'a').write(f'{sys.argv[2]} {start} {time.time()}\\n')"
)


def timed(record: Path, name: str, seconds: float = 2.0) -> str:
    return shlex.join([sys.executable, "-c", TIMED, str(record), name, str(seconds)])


def spans(record: Path) -> dict[str, tuple[float, float]]:
    rows = [line.split() for line in record.read_text().splitlines()]
    return {name: (float(start), float(end)) for name, start, end in rows}


def gate_args(*commands: str) -> list[str]:
    return [f"--roadmap-gate={command}" for command in commands]


def test_barriers_split_the_commands_into_stages() -> None:
    commands = ["a", "b", "---", "c", " --- ", "---"]
    assert stages(commands) == [["a", "b"], ["c"]]
    assert commands_of(commands) == ["a", "b", "c"]


@pytest.mark.parametrize(("jobs", "together"), [("3", True), ("1", False)])
def test_gate_commands_run_side_by_side_or_one_after_another(
    project: Project, jobs: str, together: bool
) -> None:
    project.roadmap(ONE_GROUP)
    record = project.path.parent / f"{project.path.name}-times.txt"
    commands = [timed(record, name) for name in ("typecheck", "lint", "test")]
    result = project.run("--roadmap-gate-jobs", jobs, *gate_args(*commands), timeout=TIMEOUT)
    assert result.ret == 0, result.stdout.str()
    found = spans(record)
    assert sorted(found) == ["lint", "test", "typecheck"]
    starts = sorted(start for start, _ in found.values())
    ends = sorted(end for _, end in found.values())
    if together:  # each started before any ended: about 2 s in all
        assert starts[-1] < ends[0]
        assert ends[-1] - starts[0] < 2 * 2.0
    else:  # each started after the one before ended: about 6 s in all
        ordered = sorted(found.values())
        assert all(ordered[i][0] >= ordered[i - 1][1] for i in (1, 2))
        assert ends[-1] - starts[0] >= 3 * 2.0


def test_a_barrier_makes_the_build_wait_for_the_checks(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    record = project.path.parent / f"{project.path.name}-times.txt"
    commands = [
        timed(record, "lint", 1),
        timed(record, "test", 1),
        "---",
        timed(record, "build", 0),
    ]
    result = project.run("--roadmap-gate-jobs", "auto", *gate_args(*commands), timeout=TIMEOUT)
    assert result.ret == 0, result.stdout.str()
    found = spans(record)
    assert found["build"][0] >= max(found["lint"][1], found["test"][1])


def test_every_failed_command_is_reported_with_its_own_output(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    record = project.path.parent / f"{project.path.name}-times.txt"
    lint = "for i in 1 2 3; do echo LINT-$i; sleep 0.2; done; exit 3"
    test = "for i in 1 2 3; do echo TEST-$i; sleep 0.2; done; exit 4"
    commands = [lint, timed(record, "typecheck", 0.5), test, "---", timed(record, "build", 0)]
    xml = project.path.parent / f"{project.path.name}-junit.xml"
    result = project.run(
        "--roadmap-gate-jobs",
        "3",
        "--roadmap-fix-attempts",
        "0",
        f"--junitxml={xml}",
        *gate_args(*commands),
        timeout=TIMEOUT,
    )
    out = result.stdout.str()
    assert result.ret == 1, out
    assert (
        f"Phase 1 Group A gate failed: '{lint}' exited with code 3, '{test}' exited with code 4"
        in out
    )
    assert "build" not in spans(record)  # after the barrier: not run
    # each command's output whole, apart from the other's
    assert f"--- '{lint}' exited with code 3; the end of its output:\nLINT-1\nLINT-2\nLINT-3" in out
    assert f"--- '{test}' exited with code 4; the end of its output:\nTEST-1\nTEST-2\nTEST-3" in out
    [log] = (project.path / "logs" / "orchestrator").glob("*gate*.log")
    text = log.read_text()
    assert "LINT-1\nLINT-2\nLINT-3\n" in text and "TEST-1\nTEST-2\nTEST-3\n" in text
    assert "=== gate command 3: exit 4 after" in text
    assert not list(log.parent.glob("*.cmd*.log"))  # gathered into the gate's log
    junit = xml.read_text()
    for index in (1, 2, 3):
        assert f'name="gate_duration_{index}"' in junit


def test_the_repair_agent_gets_every_failure_at_once(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    lint = "test -f fixed.txt || { echo LINT-BROKEN; exit 3; }"
    test = "test -f fixed.txt || { echo TEST-BROKEN; exit 4; }"
    result = project.run(
        "--roadmap-gate-jobs",
        "2",
        *gate_args(lint, test),
        agent=project.agent("--stream-json"),
        plan={"fix1": ["--write", "fixed.txt"]},
        timeout=TIMEOUT,
    )
    assert result.ret == 0, result.stdout.str()
    [fix] = [r for r in project.records("start") if r["task"] == "fix1"]
    prompt = str(fix["prompt"])
    assert "LINT-BROKEN" in prompt and "TEST-BROKEN" in prompt
    assert f"`{lint}` and `{test}` failed" in prompt


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_a_bad_gate_jobs_value_is_one_clear_line(project: Project, value: str) -> None:
    project.roadmap(ONE_GROUP)
    result = project.run("--roadmap-gate-jobs", value, timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"invalid jobs {value!r} from --roadmap-gate-jobs" in result.stderr.str()
