"""Staggered agent starts: at most one start per interval on this machine.

Workers reserve start times in a small file under a file lock, then sleep outside
the lock until their slot comes, so N agents do not call the API in the same second.
"""

from __future__ import annotations

import time
from pathlib import Path

from filelock import FileLock


def wait_for_slot(folder: Path, interval: float) -> float:
    """Block until ``interval`` seconds after the previously reserved start; return the wait."""
    if interval <= 0:
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    slots = folder / ".agent-starts"
    with FileLock(str(slots) + ".lock", timeout=60):
        try:
            last = float(slots.read_text(encoding="utf-8") or 0)
        except (FileNotFoundError, ValueError):
            last = 0.0
        now = time.time()
        start = max(now, last + interval)
        slots.write_text(repr(start), encoding="utf-8")
    wait = start - now
    if wait > 0:
        time.sleep(wait)
    return wait
