"""Unit tests of pytest_roadmap.agents.prompt: the sibling list of a task's prompt."""

from __future__ import annotations

from pytest_roadmap.agents.prompt import SIBLINGS_SHOWN
from pytest_roadmap.agents.prompt import siblings
from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Task


def group_of(count: int) -> Group:
    tasks = tuple(Task(f"A{n}", f"Task {n}", "", n, False) for n in range(1, count + 1))
    return Group("A", "Big", 1, tasks)


def test_a_small_group_lists_every_other_task() -> None:
    group = group_of(3)
    assert siblings(group, group.tasks[1], "ROADMAP.md") == "- A1: Task 1\n- A3: Task 3"
    assert siblings(group_of(1), group_of(1).tasks[0], "ROADMAP.md") == "(none)"


def test_a_large_group_lists_the_nearest_tasks_and_how_many_more() -> None:
    group = group_of(200)
    lines = siblings(group, group.tasks[99], "ROADMAP.md").splitlines()  # A100
    assert len(lines) == SIBLINGS_SHOWN + 1
    ids = [line.split(":")[0].removeprefix("- ") for line in lines[:-1]]
    assert ids == [f"A{n}" for n in range(85, 116) if n != 100]
    assert lines[-1] == f"- ... and {199 - SIBLINGS_SHOWN} more, listed in ROADMAP.md"


def test_the_window_stays_inside_the_group() -> None:
    group = group_of(100)
    first = siblings(group, group.tasks[0], "R.md").splitlines()
    assert first[0] == "- A2: Task 2"
    assert first[SIBLINGS_SHOWN - 1] == f"- A{SIBLINGS_SHOWN + 1}: Task {SIBLINGS_SHOWN + 1}"
    last = siblings(group, group.tasks[-1], "R.md").splitlines()
    assert last[SIBLINGS_SHOWN - 1] == "- A99: Task 99"
    assert last[-1] == f"- ... and {99 - SIBLINGS_SHOWN} more, listed in R.md"
