"""xdist scheduling with hard barriers between groups.

A worker starts item *i* only once it holds the next index (or the shutdown
signal), and that next index is pinned to it. So every real item is sent
together with the dispatch pad, an item that the worker skips in no time: a
worker only ever holds a pad, and this controller places each real item on a
worker exactly when that worker is free and the item's barrier allows it.
Items that must not run (done, blocked, not selected) are never sent: the
controller reports them as skipped itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from itertools import islice
from itertools import takewhile
from typing import Any
from typing import Protocol

import pytest

from pytest_roadmap.channel import is_message
from pytest_roadmap.channel import silent_log
from pytest_roadmap.channel import wake_later
from pytest_roadmap.model.plan import Progress
from pytest_roadmap.model.plan import Step
from pytest_roadmap.model.plan import local_id_of
from pytest_roadmap.resources import MemoryGuard

PAD_NAME = "roadmap-dispatch-pad"
MEMORY_POLL = 2.0  # seconds between looks at the memory while a task waits for room


class Reporter(Protocol):
    """How the scheduler reports items it never sends (the controller)."""

    def select(self, nodeids: Sequence[str]) -> None: ...

    def report_skip(self, nodeid: str, step: Step, reason: str) -> None: ...

    def distribute(self) -> None: ...

    def on_message(self, message: Mapping[str, Any]) -> None: ...

    def on_memory_hold(self, step: Step, available: int, memfree: int) -> None: ...

    def on_memory_room(self, available: int) -> None: ...


class RoadmapScheduling:
    """Implements xdist's ``Scheduling`` protocol (see xdist/scheduler/protocol.py)."""

    def __init__(
        self,
        config: pytest.Config,
        progress: Progress,
        steps: dict[str, Step],
        reporter: Reporter,
        log: Any = None,
        before_send: Callable[[Step, Any], None] | None = None,
        memory: MemoryGuard | None = None,
    ) -> None:
        self.progress = progress
        self.steps = steps
        self.reporter = reporter
        self.log = log if log is not None else silent_log()
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self.collection: list[str] | None = None
        self.pad_index = -1
        self.index_of: dict[str, int] = {}  # local id -> index in the collection
        self.nodeid_of: dict[str, str] = {}  # local id -> node id
        self.waiting: deque[Step] = deque()
        #: the most items any barrier after this one can run at once
        self.later_demand: dict[int, int] = {}
        self.running: list[Step] = []
        self.before_send = before_send  # remote runs: push the group's base first
        self.config = config
        self.memory = memory  # settings.memfree
        self.holding = False  # a task waits for memory
        self.wake: threading.Timer | None = None
        reporter.distribute()

    # -- the protocol's properties ---------------------------------------------

    @property
    def nodes(self) -> list[Any]:
        """The workers currently in use."""
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        """A worker has sent its collection: dispatch starts on it while the others still
        start up, and each joins when its collection (the same as the first) is in."""
        return bool(self.node2collection)

    @property
    def tests_finished(self) -> bool:
        """Every selected step is settled and no worker holds a real item."""
        if self.collection is None:
            return False
        return not self.waiting and not self._active() and not any(self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        """Some step still waits or runs (before the first collection: all of them)."""
        return self.collection is None or bool(self.waiting) or any(self.node2pending.values())

    # -- the protocol's methods ------------------------------------------------

    def add_node(self, node: Any) -> None:
        """A worker came up."""
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        """A worker collected; all workers must see the same items."""
        if self.collection is not None and list(collection) != self.collection:
            raise RuntimeError(
                f"worker {node.gateway.id} collected other items than the first worker: "
                "the roadmap changed during the run?"
            )
        self.node2collection[node] = list(collection)

    def mark_test_complete(self, node: Any, item_index: Any, duration: float = 0) -> None:
        """A worker finished an item (the pad included): place what is now ready.

        A running item's message to the controller comes this way too (see channel.py).
        """
        if is_message(item_index):
            self.reporter.on_message(item_index)
        elif item_index != self.pad_index:
            self.node2pending[node].remove(item_index)
        self._advance()

    def mark_test_pending(self, item: str) -> None:
        """Not supported: a roadmap step is never run twice in one session."""
        raise NotImplementedError

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        """Not supported: this scheduler never steals."""
        raise NotImplementedError

    def remove_node(self, node: Any) -> str | None:
        """A worker went away; return the node id it was running, if any."""
        pending = self.node2pending.pop(node)
        self.node2collection.pop(node, None)
        if not pending:
            return None
        assert self.collection is not None
        return self.collection[pending[0]]

    def schedule(self) -> None:
        """Start scheduling once the first collection is in (again after a worker restart)."""
        assert self.collection_is_completed
        if self.collection is None:
            self._init_collection()
        self._advance()

    # -- barrier logic -----------------------------------------------------------

    def _init_collection(self) -> None:
        collections = list(self.node2collection.values())
        first = collections[0]
        for other in collections[1:]:
            if other != first:
                raise RuntimeError(
                    "xdist workers collected different roadmap items; "
                    "every worker must see the same ROADMAP.md"
                )
        self.collection = first
        for index, nodeid in enumerate(first):
            local = local_id_of(nodeid)
            if local == PAD_NAME:
                self.pad_index = index
            elif local in self.steps:
                self.index_of[local] = index
                self.nodeid_of[local] = nodeid
        # an empty selection has no pad, and nothing to send anyway
        self.reporter.select([self.nodeid_of[local] for local in self.index_of])
        self.waiting = deque(s for s in self.progress.selected if s.local_id in self.index_of)
        sizes: dict[int, int] = {}  # tasks per barrier
        for step in self.waiting:
            sizes[step.ordinal] = sizes.get(step.ordinal, 0) + (step.kind == "task")
        most = 0
        for ordinal in sorted(sizes, reverse=True):
            self.later_demand[ordinal] = most
            most = max(most, sizes[ordinal], 1)

    def _active(self) -> list[Step]:
        self.running = [s for s in self.running if self.progress.outcome(s) is None]
        return self.running

    def _advance(self) -> None:
        """Skip or send every waiting step whose barrier is open, in roadmap order."""
        active = self._active()
        while self.waiting:
            step = self.waiting[0]
            if any(a.ordinal < step.ordinal for a in active):
                break
            if step.kind != "task" and any(a.ordinal == step.ordinal for a in active):
                break
            reason = self.progress.skip_reason(step)
            if reason:
                self.waiting.popleft()
                self.reporter.report_skip(self.nodeid_of[step.local_id], step, reason)
                continue
            if step.kind == "task" and self.progress.paused(time.time()):
                break  # a usage limit: the message that it is over advances again
            if step.kind == "task" and not self._room_for(step, active):
                break
            node = self._free_node(local_first=step.kind != "task")
            if node is None:
                break
            self.waiting.popleft()
            index = self.index_of[step.local_id]
            self.node2pending[node].append(index)
            if self.before_send is not None:
                self.before_send(step, node)
            node.send_runtest_some([index, self.pad_index])
            active.append(step)
            self.running = active
        self._retire_idle(active)

    def _retire_idle(self, active: list[Step]) -> None:
        """Shut down idle workers that no later step can use. A retired worker ends while
        the last tasks run, instead of holding its memory until, and its teardown after,
        the end of the run."""
        alive = [node for node in self.node2pending if not getattr(node, "shutting_down", False)]
        if len(alive) < 2:
            return
        from pytest_roadmap.dist.nodes import node_rank

        alive.sort(key=node_rank)  # the first is kept: gates and commits want the repository
        idle = [node for node in alive[1:] if not self.node2pending[node]]
        keep = self._demand(active)
        surplus = len(alive) - keep
        if idle and keep and surplus > 0:  # keep 0: nothing left, the end is xdist's shutdown
            for node in idle[::-1][:surplus]:
                node.shutdown()

    def _demand(self, active: list[Step]) -> int:
        """The most items the rest of the run can still run at once: the current group's
        running and waiting tasks, a gate or commit alone, or a later group's tasks."""
        upcoming = [*active, *islice(self.waiting, 1)]
        if not upcoming:
            return 0
        now = min(step.ordinal for step in upcoming)  # everything running shares it
        current = takewhile(lambda s: s.ordinal == now and s.kind == "task", self.waiting)
        tasks = sum(1 for step in active if step.kind == "task") + sum(1 for _ in current)
        return max(1, tasks, self.later_demand.get(now, 0))

    def _room_for(self, step: Step, active: list[Step]) -> bool:
        """``settings.memfree``: is there memory for another agent? If not, say so once and
        look again every :data:`MEMORY_POLL` seconds."""
        if self.memory is None:
            return True
        room, available = self.memory.admits(sum(1 for a in active if a.kind == "task"))
        if room:
            if self.holding:
                self.holding = False
                self.reporter.on_memory_room(available)
            return True
        if not self.holding:
            self.holding = True
            self.reporter.on_memory_hold(step, available, self.memory.memfree)
        if self.wake is None or not self.wake.is_alive():
            self.wake = wake_later(self.config, MEMORY_POLL)
        return False

    def _free_node(self, local_first: bool = False) -> Any | None:
        """A worker holding no item; gates and commits prefer one in the controller's repo
        (and so wait until every worker is up: the one there may be the last)."""
        from pytest_roadmap.dist.nodes import node_rank

        if local_first and len(self.node2collection) < len(self.node2pending):
            return None
        free = [
            node
            for node, pending in self.node2pending.items()
            if not pending
            and node in self.node2collection
            and not getattr(node, "shutting_down", False)
        ]
        if local_first:
            free.sort(key=node_rank)
        return free[0] if free else None
