"""The barrier scheduler on its own, with stand-in xdist workers."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_roadmap.dist import nodes
from pytest_roadmap.dist.scheduler import PAD_NAME
from pytest_roadmap.dist.scheduler import RoadmapScheduling
from pytest_roadmap.model.plan import Completion
from pytest_roadmap.model.plan import Plan
from pytest_roadmap.model.plan import Progress
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.model.roadmap import parse_roadmap

ROADMAP = "## Phase 1: P\n\n### Group A\n- **A1: a** - a\n- **A2: b** - b\n- **A3: c** - c\n"


class Worker:
    """What the scheduler uses of xdist's WorkerController: it records what it is sent."""

    shutting_down = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        self.sent.append(list(indices))

    def shutdown(self) -> None:
        self.shutting_down = True


class Reporter:
    def select(self, nodeids: Sequence[str]) -> None:
        pass

    def report_skip(self, nodeid: str, step: Step, reason: str) -> None:
        pass

    def distribute(self) -> None:
        pass

    def on_message(self, message: Mapping[str, Any]) -> None:
        pass

    def on_memory_hold(self, step: Step, available: int, memfree: int) -> None:
        pass

    def on_memory_room(self, available: int) -> None:
        pass


def scheduling(
    config: pytest.Config, text: str, passed: frozenset[str] = frozenset()
) -> tuple[RoadmapScheduling, list[str]]:
    """A scheduler for the roadmap ``text`` (``passed``: task keys that passed in an
    earlier run), and the collection its workers send."""
    plan = Plan.build(parse_roadmap(text), completion=Completion(tasks=passed))
    scheduler = RoadmapScheduling(config, Progress(plan), plan.by_local_id(), Reporter())
    collection = [f"ROADMAP.md::{step.local_id}" for step in plan.steps]
    return scheduler, [*collection, f"ROADMAP.md::{PAD_NAME}"]


@pytest.fixture
def sched(pytestconfig: pytest.Config) -> tuple[RoadmapScheduling, list[str]]:
    return scheduling(pytestconfig, ROADMAP)


def test_dispatch_starts_on_the_first_worker_that_collected(
    sched: tuple[RoadmapScheduling, list[str]],
) -> None:
    """Workers that are still starting up do not hold back the first tasks; each joins
    when its collection is in."""
    scheduler, collection = sched
    first, second = Worker("gw0"), Worker("gw1")
    scheduler.add_node(first)
    scheduler.add_node(second)
    before = scheduler.collection_is_completed
    scheduler.add_node_collection(first, collection)
    assert (before, scheduler.collection_is_completed) == (False, True)
    scheduler.schedule()
    pad = len(collection) - 1
    assert first.sent == [[0, pad]]
    assert second.sent == []  # not collected yet: nothing is sent to it
    scheduler.add_node_collection(second, collection)
    scheduler.schedule()
    assert second.sent == [[1, pad]]
    scheduler.mark_test_complete(first, 0)
    assert first.sent == [[0, pad], [2, pad]]


def test_a_late_worker_with_another_collection_is_refused(
    sched: tuple[RoadmapScheduling, list[str]],
) -> None:
    scheduler, collection = sched
    first, late = Worker("gw0"), Worker("gw1")
    late.gateway = type("Gateway", (), {"id": "gw1"})()  # type: ignore[attr-defined]
    for worker in (first, late):
        scheduler.add_node(worker)
    scheduler.add_node_collection(first, collection)
    scheduler.schedule()
    with pytest.raises(RuntimeError, match="worker gw1 collected other items"):
        scheduler.add_node_collection(late, collection[1:])
    assert late.sent == []


def test_idle_workers_the_rest_cannot_use_are_shut_down(
    sched: tuple[RoadmapScheduling, list[str]],
) -> None:
    """Three tasks on three workers, then the gate: as tasks end, the idle workers retire;
    the first worker (the repository's) stays for the gate."""
    scheduler, collection = sched
    workers = [Worker(f"gw{n}") for n in range(3)]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    pad = len(collection) - 1
    assert [w.sent for w in workers] == [[[0, pad]], [[1, pad]], [[2, pad]]]
    assert [w.shutting_down for w in workers] == [False, False, False]  # all three busy
    progress = scheduler.progress
    first, second, third = (scheduler.steps[local_id_of(c)] for c in collection[:3])
    progress.record(first, "passed")
    scheduler.mark_test_complete(workers[0], 0)
    # two tasks still run, then the gate alone: two workers are enough
    assert [w.shutting_down for w in workers] == [False, False, False]
    progress.record(second, "passed")
    scheduler.mark_test_complete(workers[1], 1)
    assert [w.shutting_down for w in workers] == [False, True, False]
    progress.record(third, "passed")
    scheduler.mark_test_complete(workers[2], 2)
    assert workers[0].sent[-1] == [3, pad]  # the gate, on the first worker
    assert [w.shutting_down for w in workers] == [False, True, True]


@pytest.mark.parametrize("count", [2, 4])
def test_idle_workers_stay_for_a_larger_group_later(
    pytestconfig: pytest.Config, count: int
) -> None:
    """Z1 runs alone; the other workers wait idle for group A's five tasks: none retires,
    however many fewer workers there are than A has tasks."""
    tasks = "".join(f"- **A{n}: a** - a\n" for n in range(1, 6))
    text = f"## Phase 1: P\n\n### Group Z\n- **Z1: z** - z\n\n### Group A\n{tasks}"
    scheduler, collection = scheduling(pytestconfig, text)
    workers = [Worker(f"gw{n}") for n in range(count)]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    pad = len(collection) - 1
    assert [w.sent for w in workers] == [[[0, pad]]] + [[]] * (count - 1)
    assert not any(w.shutting_down for w in workers)


def test_a_gate_first_waits_until_every_worker_is_up(pytestconfig: pytest.Config) -> None:
    """A group whose tasks passed earlier starts with its gate: it goes to the repository's
    worker even when another one collected first."""
    passed = frozenset(f"PHASE_1:A:A{n}" for n in (1, 2, 3))
    scheduler, collection = scheduling(pytestconfig, ROADMAP, passed)
    remote, local = Worker("gw0"), Worker("gw1")
    remote.workerinput = {nodes.KEY: {"remote": True}}  # type: ignore[attr-defined]
    scheduler.add_node(remote)
    scheduler.add_node(local)
    scheduler.add_node_collection(remote, collection)
    scheduler.schedule()
    assert remote.sent == []
    scheduler.add_node_collection(local, collection)
    scheduler.schedule()
    pad = len(collection) - 1
    assert (remote.sent, local.sent) == ([], [[3, pad]])
