"""Speed with the defaults: longest tasks first, and nothing spent on groups with nothing to do.

Start order is read from the fake agents' own start records, never from wall time.
"""

from __future__ import annotations

import shlex
import sys

import pytest

from pytest_roadmap.model.order import column_estimate
from pytest_roadmap.model.order import dispatch_order
from pytest_roadmap.model.order import estimates
from pytest_roadmap.model.order import parse_estimate
from pytest_roadmap.model.plan import Plan
from pytest_roadmap.model.plan import largest_group
from pytest_roadmap.model.records import TaskRecord
from pytest_roadmap.model.roadmap import Task
from pytest_roadmap.model.roadmap import parse_roadmap
from tests.conftest import Project
from tests.conftest import git

#: four tasks whose Complexity column says: A4, A2, A3, A1 from longest to shortest
ESTIMATED = """\
## Phase 1: Work

### Group A: Parallel

| Task | Description | Complexity | Status |
|------|-------------|------------|--------|
| **A1: One** | one | Low | Todo |
| **A2: Two** | two | High | Todo |
| **A3: Three** | three | Medium | Todo |
| **A4: Four** | four | Very High | Todo |
"""

#: A gate command that appends a line to gate-runs.txt (run by /bin/sh).
GATE_COUNT = f"{shlex.quote(sys.executable)} -c " + shlex.quote(
    'open("gate-runs.txt", "a").write("ran\\n")'
)


def start_order(project: Project) -> list[str]:
    return [r["task"] for r in sorted(project.records("start"), key=lambda r: r["start"])]


# -- estimates and order, without processes ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hours"),
    [
        ("Low", 1.0),
        ("Very High", 8.0),
        ("XL", 8.0),
        ("M", 2.0),
        ("2h", 2.0),
        ("30m", 0.5),
        ("1d", 8.0),
        ("5", 5.0),
        ("3 points", 3.0),
        ("banana", None),
    ],
)
def test_estimate_values(value: str, hours: float | None) -> None:
    assert parse_estimate(value) == hours


def test_estimate_fields() -> None:
    def task(text: str) -> Task:
        return Task("A1", "t", text, 1, False)

    assert column_estimate(task("Complexity: Low")) == (1.0, "Complexity: Low")
    assert column_estimate(task("do it (Effort: M)")) == (2.0, "Effort: M")
    assert column_estimate(task("**Estimate:** 2h")) == (2.0, "Estimate: 2h")
    assert column_estimate(task("raise the batch size: 100")) is None


def test_dispatch_order_longest_first_within_groups_only() -> None:
    roadmap = parse_roadmap(ESTIMATED + "\n### Group B\n- **B1: x** - x\n- **B2: y** - y\n")
    plan = Plan.build(roadmap)
    found = estimates(roadmap, lambda key: TaskRecord())
    names = [s.task.id if s.task else s.kind for s in dispatch_order(plan.steps, found, "auto")]
    assert names == ["A4", "A2", "A3", "A1", "gate", "B1", "B2", "gate", "commit"]
    roadmap_order = dispatch_order(plan.steps, found, "roadmap")
    assert [s.local_id for s in roadmap_order] == [s.local_id for s in plan.steps]
    # durations measured in an earlier run beat the column
    took = {"A1": 4.0, "A2": 1.0, "A3": 2.0, "A4": 3.0, "B1": 1.0, "B2": 2.0}
    measured = estimates(roadmap, lambda key: TaskRecord(duration_s=took[key.rsplit(":", 1)[1]]))
    names = [s.task.id if s.task else s.kind for s in dispatch_order(plan.steps, measured, "auto")]
    assert names == ["A1", "A4", "A3", "A2", "gate", "B2", "B1", "gate", "commit"]


def test_largest_group_counts_tasks_to_run() -> None:
    done = "## Phase 1: P\n\n### Group A\n- [x] A1: a\n- [x] A2: b\n\n### Group B\n- [ ] B1: c\n"
    assert largest_group(Plan.build(parse_roadmap(done))) == 1
    assert largest_group(Plan.build(parse_roadmap(ESTIMATED))) == 4


# -- real runs, -n 2 ---------------------------------------------------------------------------


def test_longest_first_start_order(project: Project) -> None:
    project.roadmap(ESTIMATED)
    plan = {"A4": ["--sleep", "3"], "A2": ["--sleep", "0.3"], "A3": ["--sleep", "0.3"]}
    result = project.run("-n", "2", "--roadmap-no-commit", "--roadmap-no-gates", plan=plan)
    result.assert_outcomes(passed=5, skipped=1)
    order = start_order(project)
    assert set(order[:2]) == {"A4", "A2"}
    assert order[2:] == ["A3", "A1"]


def test_roadmap_order_keeps_roadmap_order(project: Project) -> None:
    project.roadmap(ESTIMATED)
    plan = {"A1": ["--sleep", "3"], "A2": ["--sleep", "0.3"], "A3": ["--sleep", "0.3"]}
    args = ("-n", "2", "--roadmap-no-commit", "--roadmap-no-gates", "--roadmap-order", "roadmap")
    result = project.run(*args, plan=plan)
    result.assert_outcomes(passed=5, skipped=1)
    order = start_order(project)
    assert set(order[:2]) == {"A1", "A2"}
    assert order[2:] == ["A3", "A4"]


def test_collect_only_shows_order_and_estimates(project: Project) -> None:
    project.roadmap(ESTIMATED)
    result = project.run("--collect-only")
    result.stdout.fnmatch_lines(
        [
            "*Phase 1 Group A start order (auto): A4 (~8h, Complexity: Very High), "
            "A2 (~4h, Complexity: High), A3 (~2h, Complexity: Medium), A1 (~1h, Complexity: Low)"
        ]
    )
    result.stdout.fnmatch_lines(["*A4*", "*A2*", "*A3*", "*A1*"])


def test_earlier_run_beats_the_column(project: Project) -> None:
    project.roadmap(ESTIMATED)
    # the column says A4 A2 A3 A1; what the tasks really take says A1 first, A4 last
    plan = {
        "A1": ["--sleep", "1.5"],
        "A2": ["--sleep", "0.6"],
        "A3": ["--sleep", "0.4"],
        "A4": ["--sleep", "0.05"],
    }
    args = ("-n", "2", "--roadmap-no-commit", "--roadmap-no-gates")
    project.run(*args, plan=plan).assert_outcomes(passed=5, skipped=1)
    project.record.unlink()
    project.run(*args, "--roadmap-redo", plan=plan).assert_outcomes(passed=5, skipped=1)
    order = start_order(project)
    assert set(order[:2]) == {"A1", "A2"}
    assert order[2:] == ["A3", "A4"]
    shown = project.run("--collect-only", "--roadmap-redo")
    shown.stdout.fnmatch_lines(["*start order (auto): A1 (~1.*s, earlier run), A2*"])


ALL_DONE_THEN_WORK = """\
## Phase 1: Done already

### Group A: Finished
- [x] **A1: One** - one
- [x] **A2: Two** - two

### Group B: Half
- [x] **B1: Done** - done
- **B2: Todo** - todo

## Phase 2: Next

### Group C: Work
- **C1: Work** - work
"""


def test_all_done_group_runs_no_gate(project: Project) -> None:
    project.roadmap(ALL_DONE_THEN_WORK)
    result = project.run("-n", "2", "--roadmap-gate", GATE_COUNT, "--roadmap-no-commit")
    assert result.ret == 0, result.stdout.str()
    # gate B (partly done group) and gate C ran; group A had nothing to do
    gate_runs = (project.path / "gate-runs.txt").read_text().splitlines()
    assert len(gate_runs) == 2
    assert sorted(r["task"] for r in project.records("start")) == ["B2", "C1"]
    result.stdout.fnmatch_lines(
        ["*Phase 1 Group A complete: done in ROADMAP.md, no agent or gate*"]
    )
    assert "PHASE_1:A" in project.status("completed_tasks.txt")
    assert "PHASE_1:B" in project.status("completed_tasks.txt")


def test_phase_of_done_groups_makes_no_commit(project: Project) -> None:
    project.roadmap(
        "## Phase 1: Done\n\n### Group A\n- [x] A1: one\n\n## Phase 2: Work\n\n### Group B\n"
        "- [ ] B1: two\n"
    )
    before = git(project.path, "rev-list", "--count", "HEAD")
    result = project.run("-n", "2", "--roadmap-no-gates", agent=project.agent("--write", "b.txt"))
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*already complete: every group of the phase is complete*"])
    assert int(git(project.path, "rev-list", "--count", "HEAD")) == int(before) + 1  # phase 2


def test_nothing_to_commit_makes_no_commit(project: Project) -> None:
    (project.path / ".gitignore").write_text("status/\nPHASE*-STATUS.md\n", encoding="utf-8")
    project.roadmap("## Phase 1: Quiet\n\n### Group A\n- [ ] A1: look, change nothing\n")
    before = git(project.path, "rev-list", "--count", "HEAD")
    result = project.run("-n", "2", "--roadmap-no-gates")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Phase 1 commit: nothing to commit, no commit made*"])
    assert git(project.path, "rev-list", "--count", "HEAD") == before


def test_workers_fit_the_largest_group(project: Project) -> None:
    project.roadmap("## Phase 1: One\n\n### Group A\n- [ ] A1: one\n")
    result = project.run("-n", "4", "--roadmap-no-gates", "--roadmap-no-commit", "-v")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["created: 1/1 worker"])
    result.stdout.no_fnmatch_line("*4 workers*")


def test_milliseconds_measured_earlier_never_reorder_tasks() -> None:
    roadmap = parse_roadmap("## Phase 1: P\n\n### Group A\n- **A1: a** - a\n- **A2: b** - b\n")
    plan = Plan.build(roadmap)
    took = {"A1": 0.101, "A2": 0.134}
    measured = estimates(roadmap, lambda key: TaskRecord(duration_s=took[key.rsplit(":", 1)[1]]))
    names = [s.task.id for s in dispatch_order(plan.steps, measured, "auto") if s.task]
    assert names == ["A1", "A2"]
    took = {"A1": 0.101, "A2": 1.134}
    measured = estimates(roadmap, lambda key: TaskRecord(duration_s=took[key.rsplit(":", 1)[1]]))
    names = [s.task.id for s in dispatch_order(plan.steps, measured, "auto") if s.task]
    assert names == ["A2", "A1"]
