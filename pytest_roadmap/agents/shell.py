"""Command lines run through the shell, one after another: a gate's checks, the services'
up and down commands, a new worktree's setup.

No pytest here. Each runs as an agent does (:func:`~pytest_roadmap.agents.run.run_agent`):
in a session of its own, all its output appended to one log, ended with everything it
started when it outlives its timeout.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import run_agent

__all__ = ["CommandResult", "run_commands"]


@dataclass(frozen=True)
class CommandResult:
    """One command's outcome."""

    command: str
    exit_code: int | None
    timed_out: bool
    duration: float
    tail: str

    @property
    def ok(self) -> bool:
        """The command exited 0 in time."""
        return self.exit_code == 0 and not self.timed_out


def run_commands(
    commands: Sequence[str], cwd: Path, log_path: Path, timeout: float
) -> list[CommandResult]:
    """Run ``commands`` through the shell in order until one fails; all output to one log."""
    results: list[CommandResult] = []
    for command in commands:
        cmd = AgentCommand(
            argv=("/bin/sh", "-c", command),
            cwd=cwd,
            env=dict(os.environ),
            stdin=None,
            reads_stream_json=False,
        )
        outcome = run_agent(cmd, log_path, timeout)
        result = CommandResult(
            command, outcome.exit_code, outcome.timed_out, outcome.duration, outcome.tail
        )
        results.append(result)
        if not result.ok:
            break
    return results
