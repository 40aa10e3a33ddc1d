"""A phase's commit item: commit (and push) everything its groups produced."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_roadmap.context import run_key
from pytest_roadmap.dist import nodes
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import COMPLETE_PHASE
from pytest_roadmap.model.plan import Step
from pytest_roadmap.settings import flag
from pytest_roadmap.steps.failure import RoadmapFailure
from pytest_roadmap.steps.failure import isolated
from pytest_roadmap.workspace import phase_commit
from pytest_roadmap.workspace.phase_commit import CommitOutcome

__all__ = ["run_commit"]


def run_commit(item: pytest.Item, step: Step, facts: StepFacts, exclude: Sequence[Path]) -> None:
    """Commit the phase, leaving out ``exclude`` (the run's own files) and the reports."""
    run = item.config.stash[run_key]
    settings = run.settings
    if step.local_id in run.plan.push_only:
        push_pending(item, step, facts)
        return
    if settings.dry_run:
        facts.dry_run = f"would {'commit and push' if settings.push else 'commit'} the phase"
        return
    if not settings.commit:
        raise pytest.skip.Exception(
            f"commit turned off by {flag('no_commit')}", _use_item_location=True
        )
    isolated(nodes.local_only, item.config, step.label)
    reports = [item.config.getoption(name, None) for name in ("xmlpath", "htmlpath")]
    reports.append(str(settings.report) if settings.report is not None else None)
    left_out = [*exclude, *phase_commit.report_paths(settings.project_dir, reports)]
    message = phase_commit.commit_message(run.plan, step.phase)
    outcome = phase_commit.commit_phase(settings.project_dir, message, left_out, settings.push)
    _record(outcome, facts, last_commit(item) == step.local_id)


def push_pending(item: pytest.Item, step: Step, facts: StepFacts) -> None:
    """The phase was complete before the run: push what an earlier run could not."""
    settings = item.config.stash[run_key].settings
    if settings.dry_run:
        facts.dry_run = "would push commits not pushed yet"
        return
    outcome = phase_commit.push_pending(settings.project_dir)
    if outcome is None:
        raise pytest.skip.Exception(f"{COMPLETE_PHASE}; nothing to push", _use_item_location=True)
    _record(outcome, facts, last_commit(item) == step.local_id)


def last_commit(item: pytest.Item) -> str | None:
    """The local id of the run's last phase commit (None when no phase commits)."""
    plan = item.config.stash[run_key].plan
    commits = [s for s in plan.steps if s.kind == "commit" and s.local_id not in plan.static_skips]
    return commits[-1].local_id if commits else None


def _record(outcome: CommitOutcome, facts: StepFacts, last: bool) -> None:
    """The outcome in the facts; a failure fails the item, except a failed push before the
    last phase commit: the commit stays local, the run goes on, the next push takes it."""
    facts.commit = outcome.sha
    facts.nothing_to_commit = outcome.nothing_to_commit
    facts.pushed_to = outcome.pushed_to
    facts.notes += outcome.notes
    if outcome.push_failed:
        facts.push_failed = outcome.failure
        if not last:
            facts.warnings.append(f"{outcome.failure}; the run goes on")
            return
    if outcome.failure:
        raise RoadmapFailure(outcome.failure, outcome.details)
