"""Top-level conftest: the example projects under examples/ are not our tests."""

from __future__ import annotations

collect_ignore = ["examples", "bench", "tools"]
