"""A group's gate: which commands, and running them one after another."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_roadmap.agents.run import AgentCommand
from pytest_roadmap.agents.run import run_agent

#: The bash script's gate, in its order: (npm script, command line).
NPM_GATES = (
    ("typecheck", "npm run typecheck"),
    ("lint", "npm run lint"),
    ("test", "npm test"),
    ("build", "npm run build"),
)


@dataclass(frozen=True)
class DefaultGates:
    """The npm gate commands whose scripts exist, and the scripts that are missing."""

    commands: tuple[str, ...]
    missing: tuple[str, ...]
    note: str


def default_gates(project_dir: Path) -> DefaultGates:
    """``npm run typecheck/lint``, ``npm test``, ``npm run build`` where package.json has them."""
    package = project_dir / "package.json"
    try:
        scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts") or {}
    except FileNotFoundError:
        return DefaultGates((), (), "no package.json: no default gate commands")
    except (ValueError, AttributeError, OSError) as exc:
        return DefaultGates((), (), f"package.json unreadable ({exc}): no default gate commands")
    present = tuple(cmd for name, cmd in NPM_GATES if name in scripts)
    missing = tuple(name for name, _ in NPM_GATES if name not in scripts)
    note = "missing npm scripts: " + ", ".join(missing) if missing else ""
    return DefaultGates(present, missing, note)


@dataclass(frozen=True)
class CommandResult:
    """One gate command's outcome."""

    command: str
    exit_code: int | None
    timed_out: bool
    duration: float
    tail: str

    @property
    def ok(self) -> bool:
        """The command exited 0 in time."""
        return self.exit_code == 0 and not self.timed_out


def run_gate(
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
