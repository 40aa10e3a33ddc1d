"""The summary's word on each task's evidence: what its checks proved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.text import WIDTH
from pytest_roadmap.text import fit

__all__ = ["evidence_lines", "evidence_reason", "with_evidence"]

NO_EVIDENCE_SUFFIX = ": no evidence"


class _Result(Protocol):
    facts: StepFacts


def with_evidence(outcome: str, facts: StepFacts) -> str:
    """A task's outcome with its evidence: ``passed [red→green]``."""
    checks = facts.checks
    if checks is None or not checks.commands or not checks.before:
        return outcome
    return f"{outcome} [{checks.evidence}]"


def evidence_reason(facts: StepFacts) -> str:
    """The report's word on a task with checks (its evidence, and each check that proved
    nothing) or on a gate with a culprit; empty otherwise."""
    if facts.culprit is not None:
        return f"culprit: {facts.culprit}"
    checks = facts.checks
    if checks is None or not checks.after:
        return ""
    notes = [w for w in facts.warnings if w.endswith(NO_EVIDENCE_SUFFIX)]
    return "; ".join([f"evidence: {checks.evidence}", *notes])


def evidence_lines(results: Sequence[_Result], width: int = WIDTH) -> list[str]:
    """Each check that passed before its task started, one line each."""
    lines = [
        fit(f"  {warning}", width)
        for result in results
        for warning in result.facts.warnings
        if warning.endswith(NO_EVIDENCE_SUFFIX)
    ]
    return ["checks that proved nothing:", *lines] if lines else []
