"""The run's progress lines on the terminal: ``[roadmap] …``."""

from __future__ import annotations

import pytest

__all__ = ["say"]


def say(config: pytest.Config, *lines: str) -> None:
    """Progress lines ``[roadmap] …`` on the terminal (none with -q), each on a line of its
    own: xdist may still be rewriting its status line while workers start."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0:
        return
    writer = config.get_terminal_writer()
    if writer.width_of_current_line:
        writer.line()
    for line in lines:
        reporter.write_line(f"[roadmap] {line}")
