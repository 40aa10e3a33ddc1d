"""The run's settings: one table (:mod:`.table`), resolved into a frozen :class:`Settings`.

``docs/options.md`` is generated from the table by :mod:`.reference`.
"""

from __future__ import annotations

from pytest_roadmap.settings.resolve import add_options
from pytest_roadmap.settings.resolve import find_claude
from pytest_roadmap.settings.resolve import flag
from pytest_roadmap.settings.resolve import front_matter_keys
from pytest_roadmap.settings.resolve import given_roadmap
from pytest_roadmap.settings.resolve import ini_text
from pytest_roadmap.settings.resolve import name
from pytest_roadmap.settings.resolve import resolve
from pytest_roadmap.settings.resolve import resume_command
from pytest_roadmap.settings.resolve import unknown_front_matter
from pytest_roadmap.settings.table import AGENT_PRESETS
from pytest_roadmap.settings.table import Settings

CLAUDE_INSTALL_HINT = (
    "Claude Code CLI not found! Install it (npm install -g @anthropic-ai/claude-code) "
    f"or set {name('claude_bin')}"
)

__all__ = [
    "AGENT_PRESETS",
    "CLAUDE_INSTALL_HINT",
    "Settings",
    "add_options",
    "find_claude",
    "flag",
    "front_matter_keys",
    "given_roadmap",
    "ini_text",
    "name",
    "resolve",
    "resume_command",
    "unknown_front_matter",
]
