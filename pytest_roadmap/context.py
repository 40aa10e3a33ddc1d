"""What one process knows about the run: settings, roadmap, plan, and (controller) progress."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # kept out of start-up: pytest imports this module in every session
    from pytest_roadmap.model.plan import Plan
    from pytest_roadmap.model.plan import Progress
    from pytest_roadmap.model.plan import Step
    from pytest_roadmap.model.records import TaskRecords
    from pytest_roadmap.model.roadmap import Roadmap
    from pytest_roadmap.model.usage import WindowUsage
    from pytest_roadmap.resources import Monitor
    from pytest_roadmap.segments import Segment
    from pytest_roadmap.settings import Settings


@dataclass
class RoadmapRun:
    """Shared by the plugin's hooks and items through ``config.stash[run_key]``."""

    settings: Settings
    roadmap: Roadmap
    plan: Plan
    #: outcomes as the controller learns them; None on xdist workers, which run what they get
    progress: Progress | None = None
    steps: dict[str, Step] = field(default_factory=dict)
    #: per-task records of earlier runs (read anywhere, written by the controller only)
    records: TaskRecords | None = None
    #: the controller's run-wide waits, in the order they began: a pause for a usage limit
    #: (kind ``limit_wait``), agents held back for memory (``memory_wait``); an ongoing
    #: wait ends when it is expected to end, and is replaced by its real span once known
    waits: list[Segment] = field(default_factory=list)
    #: the controller's look at the machine (CPU, memory, the agents' memory) while agents run
    monitor: Monitor | None = None
    #: the last utilization an agent reported for each window of the allowance (controller)
    usage: dict[str, WindowUsage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = self.plan.by_local_id()


run_key = pytest.StashKey[RoadmapRun]()


def is_worker(config: pytest.Config) -> bool:
    """True in an xdist worker process."""
    return hasattr(config, "workerinput")
