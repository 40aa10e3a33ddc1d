"""The project's services: brought up once before the first agent, left running at the end.

With a compose file in the project the command is ``docker compose up -d --wait`` (the
``docker-compose`` binary only when the Compose plugin is missing); ``settings.services``
replaces it, ``none`` turns services off, ``settings.services_down`` runs at the end.
Only the controller starts services; workers never do.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_roadmap.agents.shell import CommandResult
from pytest_roadmap.agents.shell import run_commands
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.paths import first_file
from pytest_roadmap.paths import shown
from pytest_roadmap.settings import Settings
from pytest_roadmap.settings import name
from pytest_roadmap.terminal import say

#: Compose's own order of precedence when several exist.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
UP = "up -d --wait"
TAIL_LINES = 10  # of a failed command's output, in the error


def compose_file(project_dir: Path) -> Path | None:
    """The project's compose file, or None."""
    return first_file(project_dir, COMPOSE_FILES)


def service_names(path: Path) -> list[str]:
    """The names under ``services:`` in a compose file (empty when unreadable)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return []
    services = data.get("services") if isinstance(data, dict) else None
    return [str(name) for name in services] if isinstance(services, dict) else []


@functools.cache
def compose_program(path: str) -> str | None:
    """``docker compose`` if the plugin answers, else ``docker-compose`` on ``path``, else None."""
    docker = shutil.which("docker", path=path)
    if docker is not None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run(
                [docker, "compose", "version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0:
                return "docker compose"
    return "docker-compose" if shutil.which("docker-compose", path=path) else None


def up_commands(settings: Settings) -> tuple[str, ...]:
    """The command lines that bring the services up (empty: no services)."""
    if settings.services is not None:
        return settings.services
    if compose_file(settings.project_dir) is None:
        return ()
    program = compose_program(os.environ.get("PATH", "")) or "docker compose"
    return (f"{program} {UP}",)


def missing_compose(settings: Settings) -> str | None:
    """The preflight line when the project has a compose file and Compose is not installed."""
    if settings.services is not None:
        return None
    path = compose_file(settings.project_dir)
    if path is None or compose_program(os.environ.get("PATH", "")) is not None:
        return None
    names = service_names(path)
    listed = f" (its services: {', '.join(names)})" if names else ""
    return (
        f"docker compose not found, but the project has {path.name}{listed}: "
        f"install Docker Compose or set {name('services')} = none"
    )


class Services:
    """Brings the services up at the start of the run; at its end, runs the down commands."""

    def __init__(self, config: pytest.Config, run: RoadmapRun) -> None:
        self.config = config
        self.run = run
        self.commands = up_commands(run.settings)
        self.log: Path | None = None
        self.started = False
        self.down: list[CommandResult] = []

    def needed(self) -> bool:
        """Services are started only when some task or gate is left to run."""
        progress = self.run.progress
        if not self.commands or progress is None or progress.stopped is not None:
            return False
        return any(
            step.kind in ("task", "gate") and progress.static_skip(step) is None
            for step in self.run.plan.steps
        )

    def bring_up(self) -> None:
        """Run the up commands; a failure stops the run before any agent (UsageError)."""
        settings = self.run.settings
        if self.config.getoption("collectonly") or not self.needed():
            return
        if settings.dry_run:
            say(self.config, f"services: would run {'; '.join(self.commands)}")
            return
        self.log = settings.log_dir / f"services_{int(time.time())}.log"
        log = shown(self.log, settings.project_dir)
        say(self.config, f"services: {'; '.join(self.commands)} (log: {log})")
        results = run_commands(self.commands, settings.project_dir, self.log, settings.task_timeout)
        last = results[-1] if results else None
        if last is not None and not last.ok:
            why = "timed out" if last.timed_out else f"exited {last.exit_code}"
            tail = "\n".join(last.tail.strip().splitlines()[-TAIL_LINES:])
            raise pytest.UsageError(
                f"services did not come up: {last.command!r} {why} (log: {log}); "
                "no agent was started" + (f"\n{tail}" if tail else "")
            )
        self.started = True
        took = sum(result.duration for result in results)
        say(self.config, f"services up in {took:.1f}s")

    def pytest_sessionfinish(self) -> None:
        """Run ``settings.services_down``, when set, after the services were started."""
        down = self.run.settings.services_down
        if self.started and down and self.log is not None:
            settings = self.run.settings
            self.down = run_commands(down, settings.project_dir, self.log, settings.task_timeout)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.started:
            return
        if not self.run.settings.services_down:
            compose = self.run.settings.services is None
            stop = f"'{self.commands[0].removesuffix(UP)}down'" if compose else "their own command"
            text = f"services left running: {stop} stops them (or set {name('services_down')})"
        elif self.down and not self.down[-1].ok and self.log is not None:
            log = shown(self.log, self.run.settings.project_dir)
            text = f"services: {self.down[-1].command!r} failed (log: {log})"
        else:
            text = "services stopped"
        terminalreporter.write_line(f"[roadmap] {text}")
