"""One run per project at a time: the run lock, and what a run that died left.

The controller of a run that writes (not a dry run, ``--collect-only`` or
a status view) takes the *run lock* ``status/.roadmap-run.lock`` (an ``flock``
through :mod:`filelock`, so the kernel drops it when its process dies) before anything is
written, and writes who holds it next to it in ``status/.roadmap-run.json`` (both go when
the run ends; the phase commit leaves them out). A second run fails at once; a run that
finds the holder's file of a run that died (its lock was released by the kernel, its file
was not removed) takes over and says which tasks that run was working on.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filelock
import psutil
import pytest

from pytest_roadmap.control.preflight import RoadmapWarning
from pytest_roadmap.control.state import IN_PROGRESS
from pytest_roadmap.control.writable import check_writable
from pytest_roadmap.control.writable import make_dir
from pytest_roadmap.control.writable import strerror
from pytest_roadmap.paths import atomic_write
from pytest_roadmap.paths import shown
from pytest_roadmap.settings import Settings

__all__ = ["INFO_NAME", "LOCK_NAME", "Holder", "RunLock", "RunLockBusy", "lock_files", "take"]

LOCK_NAME = ".roadmap-run.lock"
INFO_NAME = ".roadmap-run.json"
#: how long a refused run waits for the holder to write who it is
INFO_WAIT = 1.0
#: how long to try for the lock (a run ending right now removes its lock file)
ACQUIRE_WAIT = 0.2


def lock_files(status_dir: Path) -> tuple[Path, Path]:
    """The lock file and the holder's info file; the phase commit leaves both out."""
    return status_dir / LOCK_NAME, status_dir / INFO_NAME


def take(config: pytest.Config, settings: Settings) -> None:
    """The controller's run lock, held until the run ends; then the writable directories.

    A UsageError when another run holds it or the status directory cannot be written;
    a warning for a run that died holding it.
    """
    lock = RunLock(settings.status_dir)
    try:
        previous = lock.acquire()
    except RunLockBusy as exc:
        raise pytest.UsageError(
            f"another roadmap run is in progress ({exc.holder.describe()})"
        ) from None
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot write status files in {shown(settings.status_dir, settings.project_dir)}: "
            f"{strerror(exc)}"
        ) from None
    config.add_cleanup(lock.release)
    check_writable(settings)
    for text in dead_run_warnings(settings.status_dir, previous):
        config.issue_config_time_warning(RoadmapWarning(text), stacklevel=2)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the run lock, from its info file."""

    pid: int | None
    started: str
    host: str = ""
    created: float | None = None  # the process's start time, to tell a reused pid

    @classmethod
    def me(cls) -> Holder:
        """This process."""
        return cls(
            pid=os.getpid(),
            started=datetime.now().astimezone().isoformat(timespec="seconds"),
            host=socket.gethostname(),
            created=psutil.Process().create_time(),
        )

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder in an info file's text, or None when it is not one."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        pid, created = data.get("pid"), data.get("created")
        return cls(
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            started=str(data.get("started") or ""),
            host=str(data.get("host") or ""),
            created=float(created) if isinstance(created, (int, float)) else None,
        )

    def describe(self) -> str:
        """``pid 123, started 2025-01-01T10:00:00+00:00`` (and the host when not this one)."""
        pid = "unknown" if self.pid is None else str(self.pid)
        text = f"pid {pid}, started {self.started or 'at an unknown time'}"
        if self.host and self.host != socket.gethostname():
            text += f", on {self.host}"
        return text

    def alive(self) -> bool:
        """The holder's process still runs (same host, same pid, same start time)."""
        if self.pid is None or self.created is None or self.host != socket.gethostname():
            return False
        try:
            return abs(psutil.Process(self.pid).create_time() - self.created) < 1.0
        except psutil.Error:
            return False

    def json(self) -> str:
        """The info file's text."""
        fields = {"pid": self.pid, "started": self.started, "host": self.host}
        return json.dumps({**fields, "created": self.created}) + "\n"


class RunLockBusy(Exception):
    """Another run holds the lock."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(holder.describe())
        self.holder = holder


class RunLock:
    """``status/.roadmap-run.lock`` (flock) and ``status/.roadmap-run.json`` (who holds it)."""

    def __init__(self, status_dir: Path) -> None:
        self.status_dir = status_dir
        self.path, self.info_path = lock_files(status_dir)
        self._lock = filelock.FileLock(str(self.path), thread_local=False)
        self.held = False

    def acquire(self) -> Holder | None:
        """Take the lock at once or raise :class:`RunLockBusy`.

        Returns the holder of a run that died holding it (its info file was left), else None.
        Raises OSError when the status directory cannot be written.
        """
        make_dir(self.status_dir)
        try:
            self._lock.acquire(timeout=ACQUIRE_WAIT)
        except filelock.Timeout:
            raise RunLockBusy(self._wait_for_holder()) from None
        self.held = True
        try:
            previous = self.read_holder()
            if previous is not None and previous.alive():
                # our lock file is not the one it locked (deleted under it): still a live run
                raise RunLockBusy(previous)
            atomic_write(self.info_path, Holder.me().json())
        except BaseException:
            self.release(remove_info=False)
            raise
        return previous

    def release(self, *, remove_info: bool = True) -> None:
        """Remove the files (the run ended), then unlock. Never raises OSError.

        The lock file goes while still locked: a run that opened it meanwhile finds it
        unlinked after its flock and does not count it (filelock checks ``st_nlink``).
        """
        if not self.held:
            return
        if remove_info:
            for path in (self.info_path, self.path):
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._lock.release(force=True)
        self.held = False

    def read_holder(self) -> Holder | None:
        """The holder written in the info file, or None."""
        try:
            return Holder.parse(self.info_path.read_text(encoding="utf-8"))
        except OSError:
            return None

    def _wait_for_holder(self) -> Holder:
        """The holder may have taken the lock without writing its info yet."""
        deadline = time.monotonic() + INFO_WAIT
        while True:
            holder = self.read_holder()
            if holder is not None or time.monotonic() >= deadline:
                return holder or Holder(pid=None, started="")
            time.sleep(0.05)


def dead_run_warnings(status_dir: Path, previous: Holder | None) -> list[str]:
    """What to say about a run that did not end: its lock taken over, its unfinished tasks."""
    try:
        text = (status_dir / IN_PROGRESS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    unfinished = [line.strip() for line in text.splitlines() if line.strip()]
    warnings = []
    if previous is not None:
        warnings.append(
            f"took over the run lock of a run that is no longer running ({previous.describe()})"
        )
    if unfinished:
        who = f"previous run (pid {previous.pid})" if previous and previous.pid else "a run"
        warnings.append(f"{who} died while running: {', '.join(unfinished)}")
    return warnings
