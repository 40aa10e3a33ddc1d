"""What every step's run starts from: its item, the run's state and settings, the step and
the facts it fills in."""

from __future__ import annotations

import pytest

from pytest_roadmap.context import run_key
from pytest_roadmap.model.facts import StepFacts
from pytest_roadmap.model.plan import Step


class StepRun:
    """The common state of a task's, a gate's or a commit's run for its item."""

    def __init__(self, item: pytest.Item, step: Step, facts: StepFacts) -> None:
        self.item = item
        self.config = item.config
        self.run_state = item.config.stash[run_key]
        self.settings = self.run_state.settings
        self.step = step
        self.facts = facts
