"""``-n N``: a group's tasks run in parallel on xdist workers, with hard barriers between groups.

Every run is a real ``pytest --roadmap`` subprocess with the fake agent. Ordering and
overlap are checked with the agents' own start/end timestamps, never with wall time.
"""

from __future__ import annotations

import itertools
import os
import shlex
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAKE_AGENT
from tests.conftest import Project

TIMEOUT = 120

#: A gate command that appends the time it ran to gate.txt (run by /bin/sh).
GATE_STAMP = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
    'import time; open("gate.txt", "a").write(f"{time.time()}\\n")'
)

#: An agent that SIGKILLs its parent (the xdist worker) for task A2, else runs the fake agent.
WORKER_KILLER = f"""\
import os, signal, sys
if os.environ.get("ROADMAP_TASK_ID") == "A2":
    os.kill(os.getppid(), signal.SIGKILL)
    sys.exit(1)
os.execv(sys.executable, [sys.executable, {str(FAKE_AGENT)!r}, "--sleep", "0.5"])
"""


def roadmap_of(*groups: tuple[str, int], phase: int = 1) -> str:
    """One phase whose groups have the given numbers of tasks: ("A", 2) -> A1, A2."""
    lines = ["# Roadmap", "", f"## Phase {phase}: Work", ""]
    for group, count in groups:
        lines.append(f"### Group {group}: Group {group}")
        lines += [f"- **{group}{i}: Task {group}{i}** - do {group}{i}" for i in range(1, count + 1)]
        lines.append("")
    return "\n".join(lines)


def by_task(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One record per task; fails if a task has two (it ran twice)."""
    tasks = [r["task"] for r in records]
    assert len(tasks) == len(set(tasks)), f"a task ran more than once: {sorted(tasks)}"
    return {r["task"]: r for r in records}


def max_concurrency(records: list[dict[str, Any]]) -> int:
    """The largest number of agent runs alive at one moment, from their start/end stamps."""
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    alive = peak = 0
    for _, delta in events:  # at equal stamps an end (-1) sorts before a start (+1)
        alive += delta
        peak = max(peak, alive)
    return peak


def junit_path(project: Project) -> Path:
    """Where --junitxml goes: next to the project, so that it never dirties the git tree."""
    return project.path.parent / f"{project.path.name}-junit.xml"


def junit_arg(project: Project) -> str:
    return f"--junitxml={junit_path(project)}"


def junit(project: Project) -> dict[str, tuple[str, str]]:
    """Local node id ("phase1::groupA::A1") -> (outcome, message) from the --junitxml file."""
    root = ET.parse(junit_path(project)).getroot()
    found: dict[str, tuple[str, str]] = {}
    for case in root.iter("testcase"):
        parts = case.get("classname", "").split(".")
        assert parts[:2] == ["ROADMAP", "md"], case.attrib
        local = "::".join([*parts[2:], case.get("name", "")])
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("skipped", "failure", "error"):
                outcome = {"skipped": "skipped", "failure": "failed", "error": "error"}[child.tag]
                message = f"{child.get('message', '')}\n{child.text or ''}"
        assert local not in found, f"{local} reported twice"
        found[local] = (outcome, message)
    return found


def skip_lines(result: pytest.RunResult) -> list[str]:
    """The ``SKIPPED [n] ...: reason`` lines of ``-rs``."""
    return [line for line in result.outlines if line.startswith("SKIPPED")]


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- parallelism and barriers ---------------------------------------------------------------


def test_group_tasks_overlap_and_next_group_waits_for_gate(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 4), ("B", 1)))
    plan = {f"A{i}": ["--sleep", "2"] for i in range(1, 5)}
    result = project.run("-n", "4", "--roadmap-gate", GATE_STAMP, plan=plan, timeout=TIMEOUT)
    result.assert_outcomes(passed=8)  # 5 tasks, 2 gates, 1 commit
    assert result.ret == 0
    starts = by_task(project.records("start"))
    ends = by_task(project.records("end"))
    assert set(ends) == {"A1", "A2", "A3", "A4", "B1"}
    group_a = [ends[f"A{i}"] for i in range(1, 5)]
    assert max(r["start"] for r in group_a) < min(r["end"] for r in group_a), group_a
    gate_times = [float(x) for x in (project.path / "gate.txt").read_text().split()]
    assert len(gate_times) == 2, gate_times  # once per group
    first_gate, second_gate = sorted(gate_times)
    assert max(r["end"] for r in group_a) < first_gate
    assert first_gate < starts["B1"]["start"]
    assert ends["B1"]["end"] < second_gate


def test_more_tasks_than_workers(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 7)))
    result = project.run(
        "-n",
        "3",
        "--roadmap-no-gates",
        agent=project.agent("--sleep", "1"),
        timeout=TIMEOUT,
    )
    result.assert_outcomes(passed=9)  # 7 tasks, the gate, the commit
    ends = by_task(project.records("end"))
    assert sorted(ends) == [f"A{i}" for i in range(1, 8)]
    assert len(project.records("start")) == 7
    assert max_concurrency(list(ends.values())) == 3


# -- failures ---------------------------------------------------------------------------------


def test_task_failure_skips_gate_and_blocks_later_groups(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 3), ("B", 1)))
    result = project.run(
        "-n",
        "3",
        "-rs",
        "--roadmap-no-gates",
        junit_arg(project),
        agent=project.agent("--sleep", "1"),
        plan={"A2": ["--exit", "1"]},
        timeout=TIMEOUT,
    )
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1, skipped=4)
    ends = by_task(project.records("end"))
    assert {"A1", "A3"} <= set(ends)
    assert ends["A2"]["exit_code"] == 1
    assert all(r["task"] != "B1" for r in project.records("start"))
    lines = "\n".join(skip_lines(result))
    assert "tasks failed: A2" in lines
    assert "blocked: Phase 1 Group A task A2 failed" in lines
    items = junit(project)
    assert items["phase1::groupA::A2"][0] == "failed"
    assert items["phase1::groupA::gate"][0] == "skipped"
    assert "tasks failed: A2" in items["phase1::groupA::gate"][1]
    for local in ("phase1::groupB::B1", "phase1::groupB::gate", "phase1::commit"):
        outcome, message = items[local]
        assert outcome == "skipped", (local, items[local])
        assert "blocked: Phase 1 Group A task A2 failed" in message, (local, message)


def test_gate_failure_blocks_later_groups(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 2), ("B", 1)))
    result = project.run(
        "-n",
        "2",
        "-rs",
        "--roadmap-gate",
        "false",
        "--roadmap-fix-attempts",
        "0",
        junit_arg(project),
        timeout=TIMEOUT,
    )
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1, skipped=3)
    assert sorted(by_task(project.records("start"))) == ["A1", "A2"]
    items = junit(project)
    assert items["phase1::groupA::gate"][0] == "failed"
    for local in ("phase1::groupB::B1", "phase1::groupB::gate", "phase1::commit"):
        outcome, message = items[local]
        assert outcome == "skipped", (local, items[local])
        assert "blocked: Phase 1 Group A gate failed" in message, (local, message)
    assert "blocked: Phase 1 Group A gate failed" in "\n".join(skip_lines(result))


@pytest.mark.parametrize("restarts", [None, "0"], ids=["restart", "no-restart"])
def test_worker_killed_mid_task(project: Project, restarts: str | None) -> None:
    project.roadmap(roadmap_of(("A", 2), ("B", 1)))
    killer = project.path.parent / f"{project.path.name}-killer.py"
    killer.write_text(WORKER_KILLER, encoding="utf-8")
    args = ["-n", "2", "--roadmap-task-timeout", "30", "--roadmap-no-gates"]
    args.append(junit_arg(project))
    if restarts is not None:
        args += ["--max-worker-restart", restarts]
    result = project.run(
        *args, agent=f"{shlex.quote(sys.executable)} {shlex.quote(str(killer))}", timeout=TIMEOUT
    )
    assert result.ret == 1, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1, outcomes
    assert outcomes.get("passed") == 1, outcomes
    output = result.stdout.str()
    assert "crashed" in output
    if restarts == "0":
        assert "worker restarting disabled" in output
    else:
        assert "replacing crashed worker" in output
    assert sorted(by_task(project.records("start"))) == ["A1"]
    items = junit(project)
    outcome, message = items["phase1::groupA::A2"]
    assert outcome in ("failed", "error")  # junit calls a crash (when="???") an error
    assert "crashed" in message
    assert items["phase1::groupA::A1"][0] == "passed"
    for local in ("phase1::groupB::B1", "phase1::groupB::gate", "phase1::commit"):
        assert items.get(local, ("missing", ""))[0] == "skipped", (local, items.get(local))


def test_timeout_kills_grandchild_under_xdist(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 2)))
    pid_file = project.path.parent / f"{project.path.name}-gc.pid"
    result = project.run(
        "-n",
        "2",
        "--roadmap-task-timeout",
        "2",
        "--roadmap-no-gates",
        junit_arg(project),
        plan={"A1": ["--spawn-grandchild", "--pid-file", str(pid_file)]},
        timeout=TIMEOUT,
    )
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1, skipped=2)
    outcome, message = junit(project)["phase1::groupA::A1"]
    assert outcome == "failed"
    assert "Task A1 timed out after 2s" in message
    assert "Task A1 timed out after 2s" in result.stdout.str()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), f"grandchild {pid} outlived the timed-out task"


# -- selection and resume ----------------------------------------------------------------------


def test_deselection_runs_only_the_selected_group(project: Project) -> None:
    project.roadmap()
    result = project.run("-n", "2", "-k", "phase1 and groupB", timeout=TIMEOUT)
    assert result.ret == 0
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2, outcomes  # B1 and its gate
    assert "failed" not in outcomes, outcomes
    assert "skipped" not in outcomes, outcomes
    assert sorted(by_task(project.records("start"))) == ["B1"]


def test_resume_skips_completed_group(project: Project) -> None:
    project.roadmap()
    status = project.path / "status"
    status.mkdir()
    (status / "completed_tasks.txt").write_text("PHASE_1:A\n", encoding="utf-8")
    result = project.run("-n", "2", "-rs", junit_arg(project), timeout=TIMEOUT)
    assert result.ret == 0
    result.assert_outcomes(passed=6, skipped=3)
    assert sorted(by_task(project.records("start"))) == ["B1", "C1"]
    items = junit(project)
    for local in ("phase1::groupA::A1", "phase1::groupA::A2", "phase1::groupA::gate"):
        outcome, message = items[local]
        assert outcome == "skipped", (local, items[local])
        assert "already complete: status/completed_tasks.txt" in message
    assert "already complete: status/completed_tasks.txt" in "\n".join(skip_lines(result))


# -- edge cases --------------------------------------------------------------------------------


def test_single_task_group(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 1)))
    result = project.run("-n", "2", timeout=TIMEOUT)
    assert result.ret == 0
    result.assert_outcomes(passed=3)
    assert sorted(by_task(project.records("end"))) == ["A1"]


def test_empty_selection(project: Project) -> None:
    project.roadmap()
    result = project.run("-n", "2", "-k", "nothing_matches", timeout=TIMEOUT)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()
    assert project.records() == []


def test_more_workers_than_group_tasks(project: Project) -> None:
    project.roadmap(roadmap_of(("A", 2), ("B", 1), ("C", 2)))
    result = project.run("-n", "4", "--roadmap-no-gates", timeout=TIMEOUT)
    assert result.ret == 0
    result.assert_outcomes(passed=9)  # 5 tasks, 3 gates, 1 commit
    ends = by_task(project.records("end"))
    assert sorted(ends) == ["A1", "A2", "B1", "C1", "C2"]
    groups = [["A1", "A2"], ["B1"], ["C1", "C2"]]
    for before, after in itertools.pairwise(groups):
        last_end = max(ends[task]["end"] for task in before)
        assert last_end < min(ends[task]["start"] for task in after), (before, after)


def test_every_worker_stays_for_a_later_group_that_needs_it(project: Project) -> None:
    """Workers idle at the end of group A are not retired: B1-B3 must run at once."""
    project.roadmap(roadmap_of(("A", 4), ("B", 4)))
    meet = ["--meet", str(project.path.parent / f"{project.path.name}-meet"), "--meet-count", "3"]
    plan = {task: meet for task in ("B1", "B2", "B3")}
    result = project.run("-n", "3", "--roadmap-no-gates", plan=plan, timeout=TIMEOUT)
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=11)  # 8 tasks, 2 gates, 1 commit


def test_serial_and_parallel_give_the_same_outcomes(project: Project) -> None:
    project.roadmap()
    plan = {"A2": ["--exit", "1"]}
    runs = {}
    for n in ("0", "2"):
        result = project.run(
            "-n", n, "-rs", "--roadmap-redo", junit_arg(project), plan=plan, timeout=TIMEOUT
        )
        assert result.ret == 1
        runs[n] = (result.parseoutcomes(), junit(project))
    serial, parallel = runs["0"], runs["2"]
    assert serial[0] == {"passed": 1, "failed": 1, "skipped": 7}, serial[0]
    assert parallel[0] == serial[0]
    assert {k: v[0] for k, v in parallel[1].items()} == {k: v[0] for k, v in serial[1].items()}
    for local, (outcome, message) in serial[1].items():
        if outcome == "skipped":
            reason = message.strip().splitlines()[0]
            assert reason.split(": ", 1)[-1] in parallel[1][local][1], (local, message)


# -- status files --------------------------------------------------------------------------------


def test_status_files_written_by_controller(project: Project) -> None:
    project.roadmap()
    result = project.run("-n", "2", timeout=TIMEOUT)
    assert result.ret == 0
    result.assert_outcomes(passed=9)
    assert project.status("completed_tasks.txt") == ["PHASE_1:A", "PHASE_1:B", "PHASE_2:C"]
    group_a = project.path / "PHASE1-GROUP-A-STATUS.md"
    assert group_a.exists()
    text = group_a.read_text(encoding="utf-8")
    assert "A1" in text
    assert "A2" in text
    assert project.status("in_progress_tasks.txt") == []
    assert (project.path / "status" / "in_progress_tasks.txt").exists()
