"""What a roadmap item reports, typed: one record per step, from the worker to the controller.

An item fills in a :class:`StepFacts` while it runs. Its report carries the facts as one
serialised entry of ``user_properties`` (:data:`FACTS_KEY`), which crosses xdist's channel
like any property; the human-readable JUnit properties (``cost_usd``, ``session_id``,
``gate_exit_1`` ...) are written from the same facts by :meth:`StepFacts.properties`. The
controller, the summary and the reports read :func:`facts_of` a report, never a property
by its name. No pytest here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from typing import Any

from pytest_roadmap.model.evidence import CheckFacts

__all__ = [
    "FACTS_KEY",
    "AgentFacts",
    "CommandFacts",
    "RepairFacts",
    "ShippedLog",
    "StepFacts",
    "WorkspaceFacts",
    "facts_of",
    "with_facts",
]

#: the ``user_properties`` name of the serialised facts
FACTS_KEY = "roadmap_facts"
RESULT_TEXT_LIMIT = 2000
NOTHING_TO_COMMIT = "nothing to commit"


@dataclass
class AgentFacts:
    """One agent step's runs: the last attempt's facts, the cost and waits of all of them."""

    log: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    cost_usd: float | None = None
    num_turns: int | None = None
    session_id: str | None = None
    result: str | None = None
    peak_rss_mb: float | None = None
    #: why each retry was needed, in order
    retry_reasons: list[str] = field(default_factory=list)
    #: the usage limit the agent met ("five_hour", "unknown"...), and how long it waited
    limit_type: str | None = None
    limit_wait_s: float | None = None
    model: str | None = None  # the model used (issue 25)
    chosen_model: str | None = None  # the model asked for: a task's, group's or the run's

    def properties(self) -> list[tuple[str, object]]:
        props: list[tuple[str, object]] = [
            (f"retry_{number}_reason", reason)
            for number, reason in enumerate(self.retry_reasons, 1)
        ]
        if self.retry_reasons:
            props.append(("retries", len(self.retry_reasons)))
        if self.peak_rss_mb is not None:
            props.append(("peak_rss_mb", self.peak_rss_mb))
        if self.limit_type is not None:
            props.append(("limit_type", self.limit_type))
            props.append(("limit_wait_s", self.limit_wait_s or 0.0))
        props += [
            ("log", self.log),
            ("exit_code", self.exit_code),
            ("duration_s", self.duration_s),
        ]
        optional = {
            "num_turns": self.num_turns,
            "session_id": self.session_id,
            "result": self.result,
            "cost_usd": self.cost_usd,
            "model": self.model,
        }
        return props + [(name, value) for name, value in optional.items() if value is not None]


@dataclass
class WorkspaceFacts:
    """Where a task's agent worked, with worktree isolation or on a remote worker."""

    branch: str
    worktree: str
    base: str
    reused: bool
    #: the commit of the task's work on its branch, or ``none: no changes``
    commit: str | None = None
    #: ``<branch> to <remote>`` once a remote worker pushed it
    pushed: str | None = None

    def properties(self) -> list[tuple[str, object]]:
        props: list[tuple[str, object]] = [
            ("branch", self.branch),
            ("worktree", self.worktree),
            ("worktree_base", self.base[:12]),
            ("worktree_reused", self.reused),
        ]
        if self.commit is not None:
            props.append(("task_commit", self.commit))
        if self.pushed is not None:
            props.append(("pushed", self.pushed))
        return props


@dataclass
class CommandFacts:
    """One gate command's last run."""

    command: str
    exit_code: int | None = None
    duration_s: float | None = None


@dataclass
class RepairFacts:
    """One repair agent a gate started: why, its log, how it ended."""

    why: str
    log: str
    outcome: str
    cost_usd: float | None = None
    limit_wait_s: float | None = None


@dataclass
class ShippedLog:
    """A remote worker's task log, carried to the controller, which writes it to its logs."""

    name: str
    text: str


@dataclass
class StepFacts:
    """Everything one task, gate or commit item reports."""

    #: what a dry run would have done
    dry_run: str | None = None
    #: the task's agent (a task), with all its attempts
    agent: AgentFacts | None = None
    #: the failure's one-line reason; ``systemic`` when every other task would fail alike
    failure: str | None = None
    systemic: bool = False
    #: a usage limit too far away to wait for stopped the task (and the run)
    limit_stop: str | None = None
    #: the session of an earlier run this task continued
    resumed_session: str | None = None
    #: the xdist worker of a remote task
    worker: str | None = None
    workspace: WorkspaceFacts | None = None
    shipped_log: ShippedLog | None = None
    #: the log of a gate's commands
    log: str | None = None
    #: a gate's commands, with the exit code and time of their last run
    commands: list[CommandFacts] = field(default_factory=list)
    repairs: list[RepairFacts] = field(default_factory=list)
    #: task branches a gate fetched from remote workers, and merged
    fetched: str | None = None
    merged: list[str] = field(default_factory=list)
    #: a phase commit's sha (None: no commit made), where it was pushed
    commit: str | None = None
    nothing_to_commit: bool = False
    pushed_to: str | None = None
    #: the phase was committed but its push failed (why, and the command to push later)
    push_failed: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: a task's checks, before and after its agent (model/evidence.py)
    checks: CheckFacts | None = None
    #: the task whose merge made a gate fail (steps/culprit.py)
    culprit: str | None = None
    #: a gate that had no command to run (issue 27)
    unchecked: bool = False
    #: test files that existed before the group and that this step's agents changed (issue 28)
    tests_changed: list[str] = field(default_factory=list)

    # -- what readers want -------------------------------------------------------------

    @property
    def cost_usd(self) -> float | None:
        """What the step's agents cost: the task's agent, or a gate's repair agents."""
        if self.agent is not None:
            return self.agent.cost_usd
        costs = [repair.cost_usd for repair in self.repairs if repair.cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def num_turns(self) -> int | None:
        return self.agent.num_turns if self.agent is not None else None

    @property
    def duration_s(self) -> float | None:
        """Agent time of a task, command time of a gate; None when nothing ran."""
        if self.agent is not None:
            return self.agent.duration_s
        times = [c.duration_s for c in self.commands if c.duration_s is not None]
        return sum(times) if times else None

    @property
    def main_log(self) -> str:
        """The log to open first: the agent's, else the gate's."""
        if self.agent is not None and self.agent.log:
            return self.agent.log
        return self.log or ""

    # -- serialisation -----------------------------------------------------------------

    def entry(self) -> tuple[str, str]:
        """The one ``user_properties`` entry that carries these facts."""
        return FACTS_KEY, json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepFacts:
        """The facts :meth:`entry` serialised (unknown keys are ignored)."""
        values = _known(cls, data)
        if isinstance(values.get("agent"), Mapping):
            values["agent"] = AgentFacts(**_known(AgentFacts, values["agent"]))
        if isinstance(values.get("workspace"), Mapping):
            values["workspace"] = WorkspaceFacts(**_known(WorkspaceFacts, values["workspace"]))
        if isinstance(values.get("shipped_log"), Mapping):
            values["shipped_log"] = ShippedLog(**_known(ShippedLog, values["shipped_log"]))
        values["commands"] = [
            CommandFacts(**_known(CommandFacts, c)) for c in data.get("commands", ())
        ]
        values["repairs"] = [RepairFacts(**_known(RepairFacts, r)) for r in data.get("repairs", ())]
        if isinstance(values.get("checks"), Mapping):
            values["checks"] = CheckFacts(**_known(CheckFacts, values["checks"]))
        return cls(**values)

    def properties(self) -> list[tuple[str, object]]:
        """The human-readable report properties (JUnit XML), each a fact under its name."""
        props: list[tuple[str, object]] = []
        if self.resumed_session is not None:
            props.append(("resumed_session", self.resumed_session))
        if self.worker is not None:
            props.append(("worker", self.worker))
        if self.workspace is not None:
            props += self.workspace.properties()
        if self.fetched is not None:
            props.append(("fetched", self.fetched))
        props += [("merged", merged) for merged in self.merged]
        for index, command in enumerate(self.commands, 1):
            props.append((f"gate_command_{index}", command.command))
        if self.log is not None:
            props.append(("log", self.log))
        for index, command in enumerate(self.commands, 1):
            if command.exit_code is not None or command.duration_s is not None:
                props.append((f"gate_exit_{index}", command.exit_code))
                props.append((f"gate_duration_{index}", command.duration_s))
        for number, repair in enumerate(self.repairs, 1):
            if repair.limit_wait_s is not None:
                props.append((f"fix_{number}_limit_wait_s", repair.limit_wait_s))
            props.append((f"fix_{number}_for", repair.why))
            props.append((f"fix_{number}_log", repair.log))
            props.append((f"fix_{number}_outcome", repair.outcome))
            if repair.cost_usd:
                props.append((f"fix_{number}_cost_usd", repair.cost_usd))
        if self.repairs:
            props.append(("fix_attempts", len(self.repairs)))
        if self.agent is not None:
            props += self.agent.properties()
        if self.checks is not None:
            props += self.checks.properties()
        if self.culprit is not None:
            props.append(("culprit", self.culprit))
        if self.limit_stop is not None:
            props.append(("usage_limit_stop", self.limit_stop))
        if self.failure is not None:
            props.append(("failure", self.failure))
        if self.systemic:
            props.append(("systemic", self.failure or ""))
        if self.commit is not None:
            props.append(("commit", self.commit))
        if self.nothing_to_commit:
            props.append(("note", NOTHING_TO_COMMIT))
        if self.pushed_to is not None:
            props.append(("pushed_to", self.pushed_to))
        if self.push_failed is not None:
            props.append(("push_failed", self.push_failed))
        props += [("warning", warning) for warning in self.warnings]
        props += [("note", note) for note in self.notes]
        if self.dry_run is not None:
            props.append(("dry_run", self.dry_run))
        if self.unchecked:
            props.append(("unchecked", "nothing to check: no gate commands"))
        if self.tests_changed:
            props.append(("tests_changed", " ".join(self.tests_changed)))
        return props


def facts_of(user_properties: Iterable[Sequence[object]]) -> StepFacts:
    """The facts a report's ``user_properties`` carry (empty facts when none do)."""
    for prop in user_properties:
        if len(prop) == 2 and prop[0] == FACTS_KEY and isinstance(prop[1], str):
            try:
                data = json.loads(prop[1])
            except ValueError:
                break
            if isinstance(data, dict):
                return StepFacts.from_json(data)
    return StepFacts()


def with_facts(
    user_properties: Iterable[tuple[str, object]], facts: StepFacts
) -> list[tuple[str, object]]:
    """``user_properties`` with their facts entry replaced by ``facts``."""
    return [prop for prop in user_properties if prop[0] != FACTS_KEY] + [facts.entry()]


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}
