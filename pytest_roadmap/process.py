"""Processes the run starts: dying with their parent, and killing a whole process tree.

No pytest here. Agents, gate commands, services and notify commands run in sessions of
their own; :func:`kill_tree`, the one killer (of git too), ends such a process with
everything it started, wherever its descendants went, and :func:`launch` makes a child
die when the run that started it dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence

import psutil

__all__ = ["JOIN_TIMEOUT", "kill_orphans", "kill_tree", "launch"]

#: seconds to wait for processes, threads and pipes to finish after a kill
JOIN_TIMEOUT = 5.0
PR_SET_PDEATHSIG = 1


def kill_tree(pid: int, grace: float) -> None:
    """Kill ``pid``, its process group and all its descendants, even those in other sessions.

    Sends SIGTERM, waits up to ``grace`` seconds, then SIGKILLs whatever is left.
    An exception during the grace period (a second Ctrl-C) skips straight to SIGKILL
    and propagates.
    """
    procs = _tree(pid)
    _signal_all(pid, procs, signal.SIGTERM)
    try:
        _wait_gone(procs, grace)
    finally:
        procs = _merge(procs, _tree(pid))
        _signal_all(pid, procs, signal.SIGKILL)
        _wait_gone(procs, JOIN_TIMEOUT)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started it dies (Linux).

    The agent runs in a session of its own, so a ``kill -9`` of pytest would otherwise
    leave it running on beside the next run's agent for the same task.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, "prctl", None)


_PRCTL = _load_prctl()


@functools.cache
def _setpriv() -> str | None:
    """util-linux ``setpriv``, when it can set the parent-death signal, else None."""
    found = shutil.which("setpriv") if _PRCTL is not None else None
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "--pdeathsig", "TERM", "--", found, "--version"],
            capture_output=True,
            timeout=JOIN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found if probe.returncode == 0 else None


def launch(
    argv: Sequence[str], env: Mapping[str, str]
) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to start and the ``preexec_fn``, so that the child dies with its parent.

    ``setpriv --pdeathsig`` execs the agent in place (same pid); it keeps ``Popen`` on its
    fast path, whereas any ``preexec_fn`` makes it fork the whole interpreter (about 4 ms
    more per agent start, measured). The prctl call in ``preexec_fn`` stays the fallback,
    and the path of least surprise for relative commands and failed look-ups: ``Popen``
    then reports a missing or non-executable command itself.
    """
    argv0 = argv[0]
    wrapper = _setpriv()
    if wrapper is not None and (os.sep not in argv0 or os.path.isabs(argv0)):
        found = shutil.which(argv0, path=env.get("PATH", os.defpath))
        if found is not None:
            return [wrapper, "--pdeathsig", "TERM", "--", found, *argv[1:]], None
    return list(argv), _die_with_parent if _PRCTL is not None else None


def _tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its descendants, wherever their session; [] when it is gone."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _merge(first: list[psutil.Process], second: list[psutil.Process]) -> list[psutil.Process]:
    seen = {proc.pid for proc in first}
    return first + [proc for proc in second if proc.pid not in seen]


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_orphans(pgid: int) -> None:
    """SIGKILL what the exited agent left in its process group and wait until it is gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return  # the usual case: nothing left
    _wait_gone(_group_members(pgid), JOIN_TIMEOUT)


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _signal_all(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    _kill_group(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until every process has exited (a zombie counts as exited) or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    alive = procs
    while alive:
        _gone, alive = psutil.wait_procs(alive, timeout=0.05)
        alive = [proc for proc in alive if _running(proc)]
        if time.monotonic() >= deadline:
            return


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
