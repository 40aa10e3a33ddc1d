"""Run a write at most once per interval, and never leave the last request unwritten."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Throttle:
    """Coalesces requests for ``write``: the first runs at once, later ones at most once per
    ``interval`` seconds, the last one always (from a timer thread when nothing follows it).

    ``write`` runs under a lock, so the caller's thread and the timer never overlap. An
    exception the timer's ``write`` raises is raised again by the next :meth:`request` or
    :meth:`flush`, in the caller's thread.
    """

    def __init__(self, write: Callable[[], None], interval: float) -> None:
        self._write = write
        self._interval = interval
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._dirty = False
        self._timer: threading.Timer | None = None
        self._error: BaseException | None = None

    @property
    def interval(self) -> float:
        """Seconds between two writes; may be changed at any time (the next wait uses it)."""
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = seconds

    def request(self) -> None:
        """Ask for a write: now, if the last one is ``interval`` old, else soon."""
        self._raise_deferred()
        with self._lock:
            self._dirty = True
            wait = self._last + self._interval - time.monotonic()
            if wait <= 0:
                self._run()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write now what was requested and not written yet; stop the timer."""
        self._raise_deferred()
        with self._lock:
            self._cancel()
            if self._dirty:
                self._run()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if not self._dirty:
                return
            try:
                self._run()
            except Exception as exc:  # raised again in the caller's thread
                self._error = exc

    def _run(self) -> None:
        self._dirty = False
        self._last = time.monotonic()
        self._write()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _raise_deferred(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error
