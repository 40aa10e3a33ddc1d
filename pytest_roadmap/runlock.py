"""Run safety: one run per project at a time, signals, runs that died, writable dirs, secrets.

:func:`guard` is called from ``pytest_configure`` in every process of a roadmap run:

- The controller of a run that writes (not a dry run, ``--collect-only`` or
  ``--roadmap-status``) takes the *run lock* ``status/.roadmap-run.lock`` (an
  ``flock`` through :mod:`filelock`, so the kernel drops it when its process
  dies) before anything is written, and writes who holds it next to it in
  ``status/.roadmap-run.json`` (both go when the run ends; the phase commit leaves
  them out). A second run fails at once; a run that finds the
  holder's file of a run that died (its lock was released by the kernel, its file
  was not removed) takes over and says which tasks that run was working on.
- It then checks that the status and log directories are writable.
- SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` like SIGINT, in the controller
  and in xdist workers, so that pytest's interrupted path runs and every agent's
  process tree is killed. The controller of an xdist run passes an interrupt on to
  its workers (SIGUSR1), which a terminal's Ctrl-C would have reached too, but a
  ``kill`` of the controller alone would not.
- Values of secret-looking environment variables (API keys, tokens) are replaced
  in the reports of roadmap items, which feed the terminal, JUnit XML, status
  files and the cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import filelock
import psutil
import pytest

from pytest_roadmap.paths import shown
from pytest_roadmap.preflight import RoadmapWarning
from pytest_roadmap.settings import Settings
from pytest_roadmap.state import IN_PROGRESS
from pytest_roadmap.state import atomic_write

__all__ = [
    "INFO_NAME",
    "LOCK_NAME",
    "Holder",
    "RunLock",
    "RunLockBusy",
    "check_writable",
    "guard",
    "lock_files",
    "redact",
    "write_error",
]

LOCK_NAME = ".roadmap-run.lock"
INFO_NAME = ".roadmap-run.json"
#: how long a refused run waits for the holder to write who it is
INFO_WAIT = 1.0
#: how long to try for the lock (a run ending right now removes its lock file)
ACQUIRE_WAIT = 0.2
#: seconds within which a second signal is the same interrupt, not a second Ctrl-C
DUPLICATE_WINDOW = 0.05
#: shortest environment value that is treated as a secret
SECRET_MIN_LENGTH = 8
_SECRET_NAME = re.compile(r"API_?KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|PRIVATE_KEY", re.I)
_HandlerType = Callable[[int, FrameType | None], Any] | int | None


def lock_files(status_dir: Path) -> tuple[Path, Path]:
    """The lock file and the holder's info file; the phase commit leaves both out."""
    return status_dir / LOCK_NAME, status_dir / INFO_NAME


def guard(config: pytest.Config, settings: Settings, *, controller: bool) -> None:
    """Make this process of a roadmap run safe; see the module's docstring."""
    config.pluginmanager.register(SecretFilter(), "roadmap-secret-filter")
    if not runs_agents(config, settings):
        return
    if controller:
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
                f"{_strerror(exc)}"
            ) from None
        config.add_cleanup(lock.release)
        check_writable(settings)
        for text in dead_run_warnings(settings.status_dir, previous):
            config.issue_config_time_warning(RoadmapWarning(text), stacklevel=2)
    if threading.current_thread() is threading.main_thread():
        handlers = _Interrupts(config, controller)
        handlers.install()
        config.add_cleanup(handlers.restore)


def runs_agents(config: pytest.Config, settings: Settings) -> bool:
    """True unless this is a dry run, ``--collect-only`` or ``--roadmap-status``."""
    return not (settings.dry_run or settings.status_only or config.getoption("collectonly"))


# -- writable directories ----------------------------------------------------------------------


def check_writable(settings: Settings) -> None:
    """UsageError ``cannot write status files in <dir>: <strerror>`` (logs alike).

    Creates a missing directory, then a temporary file in it, and removes the file.
    """
    for folder, what in ((settings.status_dir, "status files"), (settings.log_dir, "logs")):
        problem = write_problem(folder)
        if problem:
            raise pytest.UsageError(
                f"cannot write {what} in {shown(folder, settings.project_dir)}: {problem}"
            )


def write_problem(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created if missing), or None."""
    try:
        _make_dir(folder)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".roadmap-write-check.")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return _strerror(exc)
    return None


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the directory should be
        raise NotADirectoryError(20, os.strerror(20), str(folder)) from None


def write_error(exc: OSError, status_dir: Path, project_dir: Path) -> str:
    """``cannot write status files in status: No space left on device``, for any state write."""
    folder = Path(exc.filename) if isinstance(exc.filename, str) else status_dir
    if folder != status_dir and not folder.is_dir():
        folder = folder.parent
    strerror = _strerror(exc)
    if isinstance(exc, FileExistsError) and not folder.is_dir():
        strerror = os.strerror(20)  # mkdir found a file where the directory should be
    return f"cannot write status files in {shown(folder, project_dir)}: {strerror}"


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


# -- the run lock -------------------------------------------------------------------------------


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
        _make_dir(self.status_dir)
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


# -- signals ------------------------------------------------------------------------------------


class _Interrupts:
    """SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt, in the controller and the workers.

    The controller of an xdist run passes an interrupt on to its workers as SIGUSR1, which
    a worker takes as its first interrupt, never as a second one: a worker that got the
    terminal's SIGINT or SIGHUP itself must not take the copy for a second Ctrl-C, which
    would cut the termination of its agent short. For the same reason a signal that comes
    within :data:`DUPLICATE_WINDOW` of the one before is the same interrupt, delivered twice.
    """

    def __init__(self, config: pytest.Config, controller: bool) -> None:
        self.config = config
        self.controller = controller
        self.saved: dict[signal.Signals, _HandlerType] = {}
        self.last: float | None = None  # time.monotonic() of the last interrupt

    def install(self) -> None:
        wanted = [signal.SIGTERM, signal.SIGHUP] + ([] if self.controller else [signal.SIGUSR1])
        for sig in wanted:
            if signal.getsignal(sig) == signal.SIG_DFL:
                self.saved[sig] = signal.signal(sig, self._handle)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.saved[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)

    def restore(self) -> None:
        for sig, previous in self.saved.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, previous)
        self.saved.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        now = time.monotonic()
        if self.last is not None and (sig == signal.SIGUSR1 or now - self.last < DUPLICATE_WINDOW):
            return  # a copy of an interrupt this process already got
        self.last = now
        if self.controller and self._distributed():
            _interrupt_workers()
        if sig == signal.SIGINT:
            raise KeyboardInterrupt
        raise KeyboardInterrupt(sig.name)

    def _distributed(self) -> bool:
        return self.config.pluginmanager.get_plugin("dsession") is not None


def _interrupt_workers() -> None:
    """SIGUSR1 to our children in our own process group: xdist's workers, not the agents."""
    group = os.getpgrp()
    for child in psutil.Process().children():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(child.pid) == group:
                child.send_signal(signal.SIGUSR1)


# -- secrets ------------------------------------------------------------------------------------


def secret_values(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value) of secret-looking variables, longest value first."""
    env = os.environ if environ is None else environ
    found = [
        (name, value)
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value.strip()) >= SECRET_MIN_LENGTH
    ]
    return sorted(found, key=lambda pair: -len(pair[1]))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret environment value replaced by ``[redacted NAME]``."""
    return _redacted(text, secret_values(environ))


def _redacted(text: str, secrets: list[tuple[str, str]]) -> str:
    for name, value in secrets:
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text


class SecretFilter:
    """Redacts secrets in the reports of roadmap items, where they are made (worker or not).

    The secrets are those of the environment as the first report is made: scanning it
    again for every report cost about half a millisecond per item (measured).
    """

    def __init__(self) -> None:
        self.secrets: list[tuple[str, str]] | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.secrets is None:
            self.secrets = secret_values()
        secrets = self.secrets
        if isinstance(report.longrepr, str):
            report.longrepr = _redacted(report.longrepr, secrets)
        report.user_properties = [
            (name, _redacted(value, secrets) if isinstance(value, str) else value)
            for name, value in report.user_properties
        ]
        report.sections = [(title, _redacted(body, secrets)) for title, body in report.sections]
        spans = getattr(report, "roadmap_segments", None)  # the timeline's notes (segments.py)
        if isinstance(spans, list):
            report.roadmap_segments = [  # type: ignore[attr-defined]
                {**span, "note": _redacted(str(span.get("note", "")), secrets)}
                if isinstance(span, dict)
                else span
                for span in spans
            ]
        return report
