"""Telling people what an unattended run does: their commands, and plugins, on each event.

The controller calls :func:`notify` on each run event; every implementation of the
``pytest_roadmap_notify`` hook hears it. Ours, :class:`Notifier`, runs each
``settings.notify`` command line through the shell in the project directory, with
``ROADMAP_EVENT``, ``ROADMAP_MESSAGE`` (one line) and, where they apply,
``ROADMAP_PHASE`` and ``ROADMAP_GROUP`` in its environment: never in the command text,
since task titles are anyone's words; and it sends each event to every notify URL
through apprise (see apprise_notify.py). Commands and URLs run one event at a time, in order, in a
thread of their own, so a slow one never holds the run up; each is ended after its
timeout (``settings.notify_timeout``, 30 s), and at the end of the run the controller
waits for what is still queued no longer than one timeout. A command that fails is a
warning, never a failure.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_roadmap.control import apprise_notify
from pytest_roadmap.process import kill_tree
from pytest_roadmap.settings.targets import is_url

__all__ = ["EVENTS", "Notifier", "notify"]

EVENTS = (
    "group_passed",
    "group_failed",
    "phase_committed",
    "limit_wait",
    "limit_resumed",
    "run_stopped",
    "run_finished",
    "push_failed",
    "pushed_late",
)
OUTPUT_LIMIT = 300  # characters of a failing command's output in its warning


def notify(
    config: pytest.Config,
    event: str,
    message: str,
    phase: int | None = None,
    group: str | None = None,
) -> None:
    """Tell every ``pytest_roadmap_notify`` implementation about ``event``."""
    assert event in EVENTS, event
    config.hook.pytest_roadmap_notify(
        config=config, event=event, message=" ".join(message.split()), phase=phase, group=group
    )


@dataclass(frozen=True)
class _Event:
    event: str
    message: str
    phase: int | None
    group: str | None

    def env(self) -> dict[str, str]:
        extra = {"ROADMAP_EVENT": self.event, "ROADMAP_MESSAGE": self.message}
        if self.phase is not None:
            extra["ROADMAP_PHASE"] = str(self.phase)
        if self.group is not None:
            extra["ROADMAP_GROUP"] = self.group
        return {**os.environ, **extra}


class Notifier:
    """Runs the ``settings.notify`` commands on each event (registered on the controller)."""

    def __init__(self, commands: Sequence[str], cwd: Path, timeout: float) -> None:
        self.commands = tuple(commands)
        self.cwd = cwd
        self.timeout = timeout
        self._queue: queue.Queue[_Event | None] = queue.Queue()
        self._problems: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._running: subprocess.Popen[bytes] | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_roadmap_notify(
        self, event: str, message: str, phase: int | None, group: str | None
    ) -> None:
        if not self.commands:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="roadmap-notify", daemon=True)
            self._thread.start()
        self._queue.put(_Event(event, message, phase, group))

    def close(self) -> None:
        """Let the events sent so far be handled, for at most one timeout in all; what is
        left then is ended (the running command) or dropped, with a warning."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(self.timeout)
        if self._thread.is_alive():
            self._closing.set()
            with self._lock:
                running = self._running
            if running is not None:
                kill_tree(running.pid, 0)
            self._thread.join(5)
            left = sum(1 for item in list(self._queue.queue) if item is not None)
            self._problem(
                "notify commands still running at the end of the run were ended"
                + (f"; {left} events not sent" if left else "")
            )
        self._thread = None

    def take_problems(self) -> list[str]:
        """Warnings about commands that failed since the last call."""
        with self._lock:
            problems, self._problems = self._problems, []
        return problems

    def _problem(self, text: str) -> None:
        with self._lock:
            self._problems.append(text)

    def _work(self) -> None:
        while not self._closing.is_set() and (item := self._queue.get()) is not None:
            for command in self.commands:
                if self._closing.is_set():
                    return
                if is_url(command):
                    problem = apprise_notify.send(command, item.event, item.message)
                else:
                    problem = self._run(command, item)
                if problem is not None:
                    self._problem(problem)

    def _run(self, command: str, event: _Event) -> str | None:
        """Run one command for one event; a warning's text when it failed."""
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=self.cwd,
                env=event.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return f"notify command {command!r} could not start: {exc}"
        with self._lock:
            self._running = proc
        try:
            output, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid, 0)  # the command and whatever it started, at once
            with contextlib.suppress(subprocess.TimeoutExpired):  # an escapee holds the pipe
                proc.communicate(timeout=5)
            return f"notify command {command!r} ({event.event}) ended after {self.timeout:g}s"
        finally:
            with self._lock:
                self._running = None
        if proc.returncode == 0:
            return None
        said = " ".join(output.decode("utf-8", "replace").split())[-OUTPUT_LIMIT:]
        tail = f": {said}" if said else ""
        return (
            f"notify command {command!r} ({event.event}) exited with code {proc.returncode}{tail}"
        )
