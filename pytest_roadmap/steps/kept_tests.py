"""No agent may delete or skip a test that existed before its group (issue 28).

A task's run and a gate's repairs each keep a :class:`TestGuard`: after the agent, a
pre-existing test file deleted, or one that gained a skip, is a refusal. The agent's
session is continued once with the reason; what it still left deleted or skipped is
restored from the group's baseline, and the step fails with the reason. Changed tests
are allowed and reported; new files are the group's own. With the allow-test-removal
setting a refusal is a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_roadmap.dist import nodes
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.steps.base import StepRun
from pytest_roadmap.steps.failure import RoadmapFailure
from pytest_roadmap.workspace import project_tests
from pytest_roadmap.workspace.git import WorkspaceError

__all__ = ["CONTINUE_TEXT", "TestGuard", "changed_tests_text"]

#: the groups' baselines this process read, by (phase number, group id)
BASELINES = pytest.StashKey[dict[tuple[int, str], "project_tests.Baseline | None"]]()

CONTINUE_TEXT = """\
Stop: {reason}.

The tests that existed before this group are the project's: do not delete, skip or \
disable them. Restore what you removed, then fix the code so that the tests pass as they \
are (changing a test on purpose is allowed). End with a short summary of what you changed.
"""


class TestGuard:
    """The group's test files for one step that runs agents in ``cwd``."""

    __test__ = False  # not a pytest test class

    def __init__(self, run: StepRun, cwd: Path) -> None:
        settings, step = run.settings, run.step
        assert step.group is not None
        self.cwd = cwd
        self.allow = settings.allow_test_removal
        self.baseline: project_tests.Baseline | None = None
        if settings.dry_run or nodes.is_remote(run.config):
            return
        known = run.config.stash.setdefault(BASELINES, {})
        key = (step.phase.number, step.group.id)
        if key not in known:  # once per group in this process: a task's start stays quick
            try:
                known[key] = project_tests.record_baseline(
                    settings.project_dir, step.phase.number, step.group.id, settings.test_paths
                )
            except WorkspaceError:
                known[key] = None
        self.baseline = known[key]
        if self.baseline is not None:
            self.before = self.now()

    def now(self) -> dict[str, str | None]:
        assert self.baseline is not None
        return project_tests.state(self.cwd, self.baseline)

    def changed_in_group(self) -> list[str]:
        """The pre-existing test files changed since the group began (for the repair prompt)."""
        if self.baseline is None:
            return []
        found = project_tests.changes(self.cwd, self.baseline, {}, self.now())
        return found.changed

    def enforce(self, who: str, facts: StepFacts, again: Callable[[str], None]) -> None:
        """After ``who`` (an agent) ran: report changed tests; on a refusal, ``again`` gets
        the prompt that continues its session, once; then restore and fail if it persists."""
        if self.baseline is None:
            return
        found = project_tests.changes(self.cwd, self.baseline, self.before, self.now())
        if found.refused and self.allow:
            facts.warnings.append(f"{found.reason(who)} (allowed)")
        elif found.refused:
            again(CONTINUE_TEXT.format(reason=found.reason()))
            found = project_tests.changes(self.cwd, self.baseline, self.before, self.now())
            if found.refused:
                project_tests.restore(self.cwd, self.baseline, found.refused)
                reason = f"{found.reason(who)}, and did so again when told: restored"
                facts.tests_changed += _new(facts.tests_changed, found.changed)
                facts.failure = reason
                raise RoadmapFailure(reason)
        facts.tests_changed += _new(facts.tests_changed, found.changed)
        self.before = self.now()


def _new(known: list[str], paths: list[str]) -> list[str]:
    return [path for path in paths if path not in known]


def changed_tests_text(paths: list[str]) -> str:
    """The repair prompt's list of changed pre-existing tests."""
    return "\n".join(f"- {path}" for path in paths) or "(none)"
