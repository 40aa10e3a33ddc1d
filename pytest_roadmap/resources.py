"""The machine under the run: CPU, available memory, the agents' memory, and a memory guard.

:class:`Monitor` samples, in a thread of its own on the controller, the machine's CPU
use and available memory and the resident memory of the run's agents (every process
below the controller, xdist's workers themselves left out). The live view shows the
latest sample; the controller prints each group's worst. :class:`MemoryGuard` is
``settings.memfree``, as GNU parallel's ``--memfree``: a new agent starts only while
the machine has that much available, except that one always starts when none of the
run's agents runs, so a small machine runs one at a time instead of stalling. The
numbers are the controller's machine's: remote ``--tx`` workers are not looked at.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

__all__ = ["MemoryGuard", "Monitor", "Snapshot", "human_bytes", "parse_size", "rss_of"]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """``512M`` → bytes (K, M, G, T are powers of 1024; a bare number is bytes).

    :raises ValueError: not a size.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    return int(float(match[1]) * _UNITS[match[2].lower()])


def rss_of(procs: Iterable[psutil.Process]) -> int:
    """Resident bytes of ``procs`` together (a process gone meanwhile counts nothing)."""
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def human_bytes(count: float) -> str:
    """``1.2 GB``, ``340 MB``."""
    if count >= 2**30:
        return f"{count / 2**30:.1f} GB"
    return f"{count / 2**20:.0f} MB"


@dataclass(frozen=True)
class Snapshot:
    """One look at the machine."""

    cpu_percent: float
    available: int  # bytes of memory available to new processes
    agents_rss: int  # bytes resident in the run's agents' process trees

    def text(self) -> str:
        """``cpu 35%, 5.2 GB available, agents 1.1 GB``."""
        return (
            f"cpu {self.cpu_percent:.0f}%, {human_bytes(self.available)} available, "
            f"agents {human_bytes(self.agents_rss)}"
        )


class Monitor:
    """Samples the machine every ``interval`` seconds while it runs (a daemon thread)."""

    def __init__(self, interval: float = 2.0, skip_children: bool = False) -> None:
        self.interval = interval
        self.skip_children = skip_children  # under xdist the children are the workers
        self.latest: Snapshot | None = None
        self._worst: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._me = psutil.Process()

    def start(self) -> None:
        if self._thread is None:
            psutil.cpu_percent(None)  # the first call only starts the measurement
            self._thread = threading.Thread(target=self._loop, name="roadmap-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None

    def sample(self) -> Snapshot:
        """Look now, and keep the look."""
        snapshot = Snapshot(
            cpu_percent=psutil.cpu_percent(None),
            available=psutil.virtual_memory().available,
            agents_rss=self._agents_rss(),
        )
        with self._lock:
            self.latest = snapshot
            worst = self._worst
            self._worst = snapshot if worst is None else _worse(worst, snapshot)
        return snapshot

    def take_worst(self) -> Snapshot | None:
        """The worst of each number since the last call (highest CPU and agents' memory,
        least available memory), and start again."""
        with self._lock:
            worst, self._worst = self._worst, None
        return worst

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _agents_rss(self) -> int:
        try:
            children = self._me.children()
            below = self._me.children(recursive=True)
        except psutil.Error:
            return 0
        skip = {p.pid for p in children} if self.skip_children else set()
        return rss_of(proc for proc in below if proc.pid not in skip)


def _worse(a: Snapshot, b: Snapshot) -> Snapshot:
    return Snapshot(
        cpu_percent=max(a.cpu_percent, b.cpu_percent),
        available=min(a.available, b.available),
        agents_rss=max(a.agents_rss, b.agents_rss),
    )


class MemoryGuard:
    """``settings.memfree``: may another agent start now?"""

    def __init__(self, memfree: int, available: Callable[[], int] | None = None) -> None:
        self.memfree = memfree
        self.available = available or (lambda: psutil.virtual_memory().available)

    def admits(self, running: int) -> tuple[bool, int]:
        """Whether a new agent may start beside ``running`` ones, and the memory available."""
        available = self.available()
        return running == 0 or available >= self.memfree, available
