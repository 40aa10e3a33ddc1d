"""The dry run's estimate of a run's cost and time, from the tasks' earlier runs."""

from __future__ import annotations

from pytest_roadmap.model.estimate import GroupHistory
from pytest_roadmap.model.estimate import TaskHistory
from pytest_roadmap.model.estimate import estimate_lines

from .conftest import TWO_GROUPS
from .conftest import Project

TIMEOUT = 120


def test_groups_and_total_from_history() -> None:
    groups = [
        GroupHistory("Phase 1 Group A", [TaskHistory("A1", 120, 0.5), TaskHistory("A2", 60, 0.25)]),
        GroupHistory(
            "Phase 1 Group B", [TaskHistory("B1", 30, 0.1), TaskHistory("B2", None, None)]
        ),
        GroupHistory("Phase 2 Group C", [TaskHistory("C1", None, None)]),
    ]
    assert estimate_lines(groups, agents=2) == [
        "estimate Phase 1 Group A: $0.7500, 2m00s",  # the longest task: two agents
        "estimate Phase 1 Group B: $0.1000, 30.0s (no earlier run of B2: not counted)",
        "estimate Phase 2 Group C: no earlier run of C1",
        "estimate in all: $0.8500, 2m30s of tasks on 2 agents "
        "(from the last run of 3 of 5 tasks; gates not counted)",
    ]
    one = estimate_lines(groups[:1], agents=1)
    assert one[0] == "estimate Phase 1 Group A: $0.7500, 3m00s"  # one after the other


def test_no_history_says_so_plainly() -> None:
    groups = [GroupHistory("Phase 1 Group A", [TaskHistory("A1", None, None)])]
    assert estimate_lines(groups, agents=4) == [
        "estimate Phase 1 Group A: no earlier run of A1",
        "estimate: no task of this run ran before: nothing to estimate from",
    ]


def test_a_dry_run_prints_the_estimate_of_what_it_would_run(project: Project) -> None:
    project.roadmap(TWO_GROUPS)
    first = project.run("--roadmap-dry-run", timeout=TIMEOUT)
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines(
        ["*estimate: no task of this run ran before: nothing to estimate from"]
    )
    ran = project.run("-n", "2", agent=project.agent("--stream-json"), timeout=TIMEOUT)
    assert ran.ret == 0, ran.stdout.str()
    again = project.run("--roadmap-dry-run", "--roadmap-redo", "-n", "2", timeout=TIMEOUT)
    out = again.stdout.str()
    assert again.ret == 0, out
    again.stdout.fnmatch_lines(
        [
            "*estimate Phase 1 Group A: $0.0246, *s",
            "*estimate Phase 1 Group B: $0.0123, *s",
            "*estimate Phase 2 Group C: $0.0123, *s",
            "*estimate in all: $0.0492, * of tasks on 2 agents (from the last run of 4 tasks;*",
        ]
    )
