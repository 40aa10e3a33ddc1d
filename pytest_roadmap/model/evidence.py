"""What a task's checks showed: before its agent, after it, in how many rounds.

A task's :class:`CheckFacts` travel inside its :class:`~pytest_roadmap.model.facts.StepFacts`.
No pytest here.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

__all__ = [
    "NO_EVIDENCE",
    "RED_GREEN",
    "WRITTEN_BY_TASK",
    "CheckFacts",
]

RED_GREEN = "red→green"
NO_EVIDENCE = "no evidence"
WRITTEN_BY_TASK = "tests written by the task"
PASSED, FAILED, NONE = "passed", "failed", "none"


@dataclass
class CheckFacts:
    """A task's checks and what each of their runs said."""

    #: the command lines, in the order they run
    commands: list[str] = field(default_factory=list)
    #: how many of the commands are the task's own (the rest are the run-wide checks)
    own: int = 0
    #: "passed" or "failed" per command, before the agent and after its last round
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    #: agent rounds: the first, and one per failing check sent back to its session
    rounds: int = 0
    #: files the checks name that did not exist before the agent
    created: list[str] = field(default_factory=list)
    #: check files the agent changed or deleted (each put back)
    tampered: list[str] = field(default_factory=list)
    #: the group's gate commands run in the task's worktree, and their last results
    gate: list[str] = field(default_factory=list)
    gate_after: list[str] = field(default_factory=list)

    @property
    def judged(self) -> list[int]:
        """Indexes of the commands that count as evidence: the task's own, else all."""
        count = self.own or len(self.commands)
        return list(range(min(count, len(self.before))))

    @property
    def evidence(self) -> str:
        """red→green, no evidence, tests written by the task, or none."""
        if not self.commands or not self.before:
            return NONE
        if self.created:
            return WRITTEN_BY_TASK
        if any(self.before[i] == PASSED for i in self.judged):
            return NO_EVIDENCE
        return RED_GREEN

    def no_evidence(self, task_id: str) -> list[str]:
        """One line per check that passed before the agent started."""
        return [
            f"{task_id}: `{self.commands[i]}` passed before the task started: no evidence"
            for i in self.judged
            if self.before[i] == PASSED
        ]

    @property
    def summary_before(self) -> str:
        """failed (any failed), passed (all passed) or none (not run)."""
        return _summary(self.before)

    @property
    def summary_after(self) -> str:
        """passed, failed, or none when they did not run after the agent."""
        return _summary(self.after)

    def properties(self) -> list[tuple[str, object]]:
        """The JUnit properties: ``checks`` (one per command), ``checks_before``,
        ``checks_after``, ``check_rounds``, ``evidence``."""
        props: list[tuple[str, object]] = [("checks", command) for command in self.commands]
        props += [
            ("checks_before", self.summary_before),
            ("checks_after", self.summary_after),
            ("check_rounds", self.rounds),
            ("evidence", self.evidence),
        ]
        props += [("check_tampered", path) for path in self.tampered]
        props += [("task_gate", command) for command in self.gate]
        if self.gate:
            props.append(("task_gate_after", _summary(self.gate_after)))
        return props


def _summary(runs: list[str]) -> str:
    if not runs:
        return NONE
    return FAILED if FAILED in runs else PASSED
