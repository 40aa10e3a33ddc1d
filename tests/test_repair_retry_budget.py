"""Beyond the bash script: repair agents for red gates, retries, run budgets, staggering."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from pytest_roadmap.agents import stagger

from .conftest import Project

ONE_GROUP = "## Phase 1: Solo\n\n### Group A: Only\n- **A1: Alone** - do it\n"
THREE_TASKS = (
    "## Phase 1: Trio\n\n### Group A: All\n"
    "- **A1: One** - one\n- **A2: Two** - two\n- **A3: Three** - three\n"
)

#: An agent that answers like Claude Code rate limited (HTTP 429) on its first run only.
RATE_LIMITED_ONCE = """\
import json, os, pathlib, sys
counter = pathlib.Path("runs.txt")
runs = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(runs + 1))
sys.stdin.read()
if runs == 0:
    print(json.dumps({"type": "result", "subtype": "success", "is_error": True,
                      "api_error_status": 429, "result": "API Error: Request rejected (429)",
                      "session_id": "s-1", "total_cost_usd": 0.001}))
    sys.exit(1)
print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                  "result": "done", "session_id": "s-1", "total_cost_usd": 0.002}))
"""


def test_repair_agent_fixes_a_red_gate(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    result = project.run(
        "--roadmap-gate",
        "test -f fixed.txt || (echo fixed.txt is missing; exit 1)",
        "--roadmap-no-commit",
        "-rA",
        plan={"fix1": ["--write", "fixed.txt"]},
    )
    result.assert_outcomes(passed=2, skipped=1)
    runs = [r["task"] for r in project.records("start")]
    assert runs == ["A1", "fix1"]
    prompt = project.records("start")[1]["prompt"]
    assert prompt.startswith("Repair Phase 1, Group A: Only")
    assert "`test -f fixed.txt || (echo fixed.txt is missing; exit 1)` exited with code 1" in prompt
    assert "fixed.txt is missing" in prompt
    assert "- A1: Alone" in prompt
    assert any(name.startswith("phase1_groupA_fix1_") for name in project.logs())
    status_md = (project.path / "PHASE1-GROUP-A-STATUS.md").read_text()
    assert "| A1 | Alone | passed |" in status_md


def test_gate_that_stays_red_fails_after_the_attempts(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    result = project.run(
        "--roadmap-gate", "false", "--roadmap-fix-attempts", "2", "--roadmap-no-commit"
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*Phase 1 Group A gate failed: 'false' exited with code 1 (after 2 repair attempts)"]
    )
    assert [r["task"] for r in project.records("start")] == ["A1", "fix1", "fix2"]


def test_transient_failure_is_retried(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    script = project.pytester.makepyfile(rate_limited=RATE_LIMITED_ONCE)
    result = project.run(
        "--roadmap-no-commit",
        "-p",
        "no:cacheprovider",
        "-o",
        "roadmap_retry_backoff=0.1",
        agent=f"{sys.executable} {script}",
    )
    result.assert_outcomes(passed=2, skipped=1)
    assert (project.path / "runs.txt").read_text() == "2"


def test_retries_are_bounded(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    result = project.run(
        "--roadmap-no-commit",
        "--roadmap-retries",
        "1",
        "-o",
        "roadmap_retry_backoff=0",
        agent=project.agent("--crash"),
    )
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(["*agent was killed by signal SIGKILL*"])
    assert len(project.records("start")) == 2


def test_ordinary_failures_are_not_retried(project: Project) -> None:
    project.roadmap(ONE_GROUP)
    project.run("--roadmap-no-commit", agent=project.agent("--exit", "3"))
    assert len(project.records("start")) == 1


def test_run_budget_stops_new_tasks_and_counts_earlier_runs(project: Project) -> None:
    project.roadmap(THREE_TASKS)
    agent = project.agent("--stream-json")  # each run costs $0.0123
    first = project.run(
        "--roadmap-run-budget-usd", "0.02", "--roadmap-no-commit", "-rs", agent=agent
    )
    first.stdout.fnmatch_lines(
        [
            "*stopping: run budget of $0.02 reached ($0.0246 spent)*",
            "SKIPPED [[]1] ROADMAP.md:6: blocked: run budget of $0.02 reached ($0.0246 spent)",
        ]
    )
    assert [r["task"] for r in project.records("start")] == ["A1", "A2"]
    second = project.run("--roadmap-run-budget-usd", "0.02", "--roadmap-no-commit", agent=agent)
    assert [r["task"] for r in project.records("start")] == ["A1", "A2"]
    second.stdout.fnmatch_lines(["*run budget of $0.02 reached ($0.0246 spent)*"])
    third = project.run("--roadmap-run-budget-usd", "1", "--roadmap-no-commit", agent=agent)
    third.assert_outcomes(passed=2, skipped=3)  # A3 and the gate; A1, A2 passed earlier


@pytest.mark.parametrize("option", ["--roadmap-retries", "--roadmap-fix-attempts"])
def test_bad_counts_are_usage_errors(project: Project, option: str) -> None:
    project.roadmap(ONE_GROUP)
    result = project.run(option, "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: invalid count '-1' from {option}*"])


def test_stagger_reserves_one_start_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    monkeypatch.setattr(time, "sleep", slept.append)
    waits = [stagger.wait_for_slot(tmp_path, 2.0) for _ in range(3)]
    assert waits == [0.0, 2.0, 4.0]
    assert slept == [2.0, 4.0]
    assert stagger.wait_for_slot(tmp_path, 0) == 0.0


def test_stagger_spaces_bursts_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starts asked for after the burst's first interval go at once (even many, one
    after another); a burst after a quiet spell is spaced again."""
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    assert [stagger.wait_for_slot(tmp_path, 1.0) for _ in range(2)] == [0.0, 1.0]
    clock[0] = 1001.5  # a task ended: asked for after the burst
    assert stagger.wait_for_slot(tmp_path, 1.0) == 0.0
    assert stagger.wait_for_slot(tmp_path, 1.0) == 0.0  # another one in the same instant
    clock[0] = 1001.8  # short tasks, starts close together: still not a burst
    assert stagger.wait_for_slot(tmp_path, 1.0) == 0.0
    clock[0] = 1001.8 + stagger.QUIET  # a quiet minute (a long gate, a usage-limit wait)
    assert [stagger.wait_for_slot(tmp_path, 1.0) for _ in range(3)] == [0.0, 1.0, 2.0]


def test_staggered_starts_under_xdist(project: Project) -> None:
    """A burst of N starts (the first wave of a run) is still spaced by the stagger."""
    project.roadmap(THREE_TASKS)
    result = project.run("-n", "3", "--roadmap-stagger", "1", "--roadmap-no-commit")
    result.assert_outcomes(passed=4, skipped=1)
    starts = sorted(r["start"] for r in project.records("start"))
    assert len(starts) == 3
    assert starts[2] - starts[0] >= 1.5  # two seconds of reserved slots, less start-up jitter
