"""The run plan: every task, gate and commit step in order, and who blocks whom.

Pure logic, no pytest: the serial path asks :class:`Progress` before each item,
the xdist scheduler asks it before dispatching one. Both see the same answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Literal

from pytest_roadmap.model.roadmap import Group
from pytest_roadmap.model.roadmap import Phase
from pytest_roadmap.model.roadmap import Roadmap
from pytest_roadmap.model.roadmap import Task

StepKind = Literal["task", "gate", "commit"]
Outcome = Literal["passed", "failed", "skipped"]

DONE_IN_ROADMAP = "done in ROADMAP.md"
#: the gate's skip reason when every task of its group is done in the roadmap
GROUP_DONE_IN_ROADMAP = f"already complete: {DONE_IN_ROADMAP}"
PASSED_EARLIER = "passed in an earlier run"
COMPLETE_PHASE = "already complete: every group of the phase is complete"


def phase_name(phase: Phase) -> str:
    """Node name and keyword of a phase: ``phase1``."""
    return f"phase{phase.number}"


def group_name(group: Group) -> str:
    """Node name and keyword of a group: ``groupA``."""
    return f"group{group.id}"


def local_id(phase: Phase, group: Group | None = None, last: str = "") -> str:
    """The node id below the roadmap file: ``phase1::groupA::A1``, ``phase1::groupA::gate``,
    ``phase1::commit``."""
    parts = [phase_name(phase)]
    if group is not None:
        parts.append(group_name(group))
    return "::".join([*parts, last])


def log_prefix(phase: Phase, group: Group | None) -> str:
    """How a step's log names begin in the log directory: ``phase1_groupA_`` (the bash
    script's ``logs/orchestrator/phase1_groupA_A1_<unix ts>.log``)."""
    parts = [phase_name(phase)] + ([group_name(group)] if group is not None else [])
    return "_".join(parts) + "_"


def log_name(phase: Phase, group: Group | None, suffix: str, when: float) -> str:
    """``phase1_groupA_A1_<unix ts>.log``: a step's log (``suffix`` names the step)."""
    return f"{log_prefix(phase, group)}{suffix}_{int(when)}.log"


def group_key(phase: Phase, group: Group) -> str:
    """The bash script's key of a group: ``PHASE_1:A``."""
    return f"PHASE_{phase.number}:{group.id}"


def task_key(phase: Phase, group: Group, task: Task) -> str:
    """Key of a task in status files and the cache: ``PHASE_1:A:A1``."""
    return f"{group_key(phase, group)}:{task.id}"


def group_label(phase: Phase, group: Group) -> str:
    """How messages name a group: ``Phase 1 Group A``."""
    return f"Phase {phase.number} Group {group.id}"


@dataclass(frozen=True)
class Step:
    """One item of the run: a task, a group's gate, or a phase's commit."""

    kind: StepKind
    phase: Phase
    group: Group | None = None
    task: Task | None = None
    #: position of the barrier this step belongs to: a group, or a phase's commit
    ordinal: int = 0

    @property
    def local_id(self) -> str:
        """The node id below the roadmap file: ``phase1::groupA::A1``."""
        return local_id(self.phase, self.group, self.task.id if self.task else self.kind)

    @property
    def name(self) -> str:
        """How lists name the step: ``A1``, ``gate 1·A``, ``commit 1``."""
        if self.task is not None:
            return self.task.id
        if self.group is not None:
            return f"gate {self.phase.number}·{self.group.id}"
        return f"commit {self.phase.number}"

    @property
    def status_key(self) -> str:
        """The step in status files: ``PHASE_1:A:A1``, ``PHASE_1:A:gate``."""
        assert self.group is not None
        return f"{group_key(self.phase, self.group)}:{self.task.id if self.task else 'gate'}"

    @property
    def line(self) -> int:
        """1-based line of the roadmap this step comes from."""
        node = self.task or self.group or self.phase
        return node.line

    @property
    def label(self) -> str:
        """How messages name the step: ``Phase 1 Group A task A1``."""
        if self.group is None:
            return f"Phase {self.phase.number} commit"
        base = group_label(self.phase, self.group)
        return f"{base} task {self.task.id}" if self.task is not None else f"{base} gate"


def local_id_of(nodeid: str) -> str:
    """Strip the roadmap file's path from a node id: ``phase1::groupA::A1``."""
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


@dataclass(frozen=True)
class Completion:
    """What earlier runs left: completed groups (with where that is recorded), passed tasks."""

    groups: Mapping[str, str] = field(default_factory=dict)  # group key -> source
    tasks: frozenset[str] = frozenset()  # task keys that passed with the current text
    #: the branch has commits its upstream lacks: complete phases' commit items push them
    unpushed: bool = False


@dataclass(frozen=True)
class Plan:
    """Every step of a roadmap in run order, with the reasons known before running."""

    roadmap: Roadmap
    steps: tuple[Step, ...]
    static_skips: Mapping[str, str]  # local id -> reason
    #: commit steps of complete phases that only push what an earlier run committed
    push_only: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        roadmap: Roadmap,
        phases: frozenset[int] | None = None,
        completion: Completion | None = None,
    ) -> Plan:
        """Lay out the steps and decide what is skipped before anything runs."""
        completion = completion or Completion()
        steps: list[Step] = []
        skips: dict[str, str] = {}
        push_only: set[str] = set()
        ordinal = 0
        complete = set(completion.groups)
        for phase in roadmap.phases:
            selected = phases is None or phase.number in phases
            for group in phase.groups:
                ordinal += 1
                done_source = completion.groups.get(group_key(phase, group))
                if done_source is None and group.tasks and all(t.done for t in group.tasks):
                    done_source = DONE_IN_ROADMAP  # no agent, no gate: nothing to do
                    complete.add(group_key(phase, group))
                for task in group.tasks:
                    step = Step("task", phase, group, task, ordinal)
                    steps.append(step)
                    reason = _task_skip(phase, group, task, selected, done_source, completion)
                    if reason:
                        skips[step.local_id] = reason
                gate = Step("gate", phase, group, None, ordinal)
                steps.append(gate)
                if not selected:
                    skips[gate.local_id] = _not_selected(phase)
                elif done_source:
                    skips[gate.local_id] = f"already complete: {done_source}"
            ordinal += 1
            commit = Step("commit", phase, None, None, ordinal)
            steps.append(commit)
            if not selected:
                skips[commit.local_id] = _not_selected(phase)
            elif all(group_key(phase, g) in complete for g in phase.groups):
                if completion.unpushed:
                    push_only.add(commit.local_id)
                else:
                    skips[commit.local_id] = COMPLETE_PHASE
        return cls(roadmap, tuple(steps), skips, frozenset(push_only))

    def by_local_id(self) -> dict[str, Step]:
        """Index of the steps by their local node id."""
        return {step.local_id: step for step in self.steps}


def _not_selected(phase: Phase) -> str:
    return f"Phase {phase.number} not among the phases selected"


def _task_skip(
    phase: Phase,
    group: Group,
    task: Task,
    selected: bool,
    done_source: str | None,
    completion: Completion,
) -> str | None:
    if not selected:
        return _not_selected(phase)
    if task.done:
        return DONE_IN_ROADMAP
    if done_source:
        return f"already complete: {done_source}"
    if task_key(phase, group, task) in completion.tasks:
        return PASSED_EARLIER
    return None


class Progress:
    """Outcomes of the steps so far, and the skip reason each step gets now.

    A failure in a group blocks every step of a later barrier; the group's own
    tasks still run (they run in parallel anyway) and its gate is skipped.
    """

    def __init__(self, plan: Plan, selected: Iterable[Step] | None = None) -> None:
        self.plan = plan
        self.selected: tuple[Step, ...] = tuple(plan.steps if selected is None else selected)
        self.outcomes: dict[str, Outcome] = {}
        self.failed_tasks: dict[int, list[str]] = {}  # ordinal -> failed task ids
        self.blocked_by: tuple[int, str] | None = None  # (ordinal, what failed)
        self.stopped: str | None = None  # why nothing more may start at all
        #: no task starts before this time (epoch seconds): the run waits for a usage limit
        self.paused_until: float | None = None
        self.pause_reason = ""
        #: a usage limit is close (shown, nothing stops)
        self.warning: str | None = None

    def pause(self, until: float, reason: str) -> None:
        """Start no task before ``until`` (a later pause extends it)."""
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until
        self.pause_reason = reason

    def resume(self) -> None:
        """Tasks may start again."""
        self.paused_until = None
        self.pause_reason = ""

    def paused(self, now: float) -> bool:
        """True while a pause holds new tasks back."""
        return self.paused_until is not None and now < self.paused_until

    def static_skip(self, step: Step) -> str | None:
        """The reason known before the run, if any."""
        return self.plan.static_skips.get(step.local_id)

    def skip_reason(self, step: Step) -> str | None:
        """Why ``step`` must not run now, or None when it may."""
        static = self.static_skip(step)
        if static:
            return static
        if self.stopped is not None:
            return f"blocked: {self.stopped}"
        if self.blocked_by is not None and step.ordinal > self.blocked_by[0]:
            return f"blocked: {self.blocked_by[1]}"
        failed = self.failed_tasks.get(step.ordinal)
        if step.kind == "gate" and failed:
            return "tasks failed: " + ", ".join(failed)
        return None

    def record(self, step: Step, outcome: Outcome) -> None:
        """Note a step's outcome; a failure blocks the barriers after it."""
        if self.outcomes.get(step.local_id) == "failed":
            return
        self.outcomes[step.local_id] = outcome
        if outcome != "failed":
            return
        if step.kind == "task" and step.task is not None:
            self.failed_tasks.setdefault(step.ordinal, []).append(step.task.id)
        if self.blocked_by is None or step.ordinal < self.blocked_by[0]:
            self.blocked_by = (step.ordinal, f"{step.label} failed")

    def stop(self, reason: str) -> None:
        """Let nothing start any more, e.g. after a systemic agent failure."""
        if self.stopped is None:
            self.stopped = reason

    def outcome(self, step: Step) -> Outcome | None:
        """The recorded outcome, or None while unresolved."""
        return self.outcomes.get(step.local_id)

    def unresolved(self) -> Iterator[Step]:
        """Selected steps with no outcome yet, in order."""
        return (step for step in self.selected if step.local_id not in self.outcomes)


def largest_group(plan: Plan) -> int:
    """Most tasks of one group that may run (not skipped before the run); at least 1, for
    gates and commits: more agents than this never all have work."""
    counts: dict[int, int] = {}
    for step in plan.steps:
        if step.kind == "task" and step.local_id not in plan.static_skips:
            counts[step.ordinal] = counts.get(step.ordinal, 0) + 1
    return max(counts.values(), default=1)


def task_digest(task: Task) -> str:
    """Changes when the task's title or text in ROADMAP.md changes."""
    return hashlib.sha256(f"{task.title}\0{task.text}".encode()).hexdigest()[:16]
