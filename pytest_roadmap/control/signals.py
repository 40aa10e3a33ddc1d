"""Interrupts: SIGINT, SIGTERM and SIGHUP end a run the same way, in every process.

SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` like SIGINT, in the controller and in
xdist workers, so that pytest's interrupted path runs and every agent's process tree is
killed. The controller of an xdist run passes an interrupt on to its workers (SIGUSR1),
which a terminal's Ctrl-C would have reached too, but a ``kill`` of the controller alone
would not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import psutil
import pytest

__all__ = ["install"]


def install(config: pytest.Config, controller: bool) -> None:
    """Take over the signals in this process until the run ends (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        handlers = _Interrupts(config, controller)
        handlers.install()
        config.add_cleanup(handlers.restore)


#: seconds within which a second signal is the same interrupt, not a second Ctrl-C
DUPLICATE_WINDOW = 0.05

_HandlerType = Callable[[int, FrameType | None], Any] | int | None


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
