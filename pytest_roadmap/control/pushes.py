"""Phase pushes that failed, in the controller: notified, and named at the end of the run.

A phase commit whose push failed stays local and the run goes on (see
:mod:`pytest_roadmap.steps.commit`); a later phase's push takes it along. This plugin
sends ``push_failed`` and ``pushed_late`` to the notify commands, and while some commit
is still not pushed at the end, says so in the terminal summary with the command to push.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.control.notify import notify
from pytest_roadmap.model.facts import facts_of
from pytest_roadmap.model.plan import local_id_of

PUSH_WITH = "push it with: "


class PushReport:
    """Watches the phase commits' reports (registered on the controller)."""

    def __init__(self, config: pytest.Config, run: RoadmapRun) -> None:
        self.config = config
        self.run = run
        #: phase number -> why its push failed, while its commit is not pushed
        self.unpushed: dict[int, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        step = self.run.steps.get(local_id_of(report.nodeid))
        if step is None or step.kind != "commit" or report.when != "call":
            return
        facts = facts_of(report.user_properties)
        phase = step.phase.number
        if facts.push_failed is not None:
            self.unpushed[phase] = facts.push_failed
            message = f"Phase {phase} committed but not pushed: {facts.push_failed}"
            notify(self.config, "push_failed", message, phase)
        elif facts.pushed_to is not None and self.unpushed:
            earlier = ", ".join(str(number) for number in sorted(self.unpushed))
            self.unpushed.clear()
            message = (
                f"pushed to {facts.pushed_to} with phase {phase}: the commits of phase {earlier}"
            )
            notify(self.config, "pushed_late", message, phase)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.unpushed:
            return
        phases = ", ".join(str(number) for number in sorted(self.unpushed))
        last = self.unpushed[max(self.unpushed)]
        command = last.split(PUSH_WITH, 1)[1] if PUSH_WITH in last else "git push"
        terminalreporter.write_line(
            f"[roadmap] not pushed: the commits of phase {phases} are kept locally; "
            f"push them with: {command}"
        )
