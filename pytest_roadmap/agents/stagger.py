"""Staggered agent starts: bursts are spaced, starts already spread out are not.

A burst is the wave of starts that follows a quiet spell: the first agents of a run, of a
group after a long gate, or of a resume after a usage-limit wait. Those are the moments
when many agents call the API, and read or refresh the same credentials, in the same
instant. The burst is every start asked for within ``interval`` seconds of its first one;
each of those comes ``interval`` seconds after the one before. Starts asked for later go
at once (tasks ending at different times spread them out already), until the machine has
been quiet for ``QUIET`` seconds again.

Workers share the state (when the burst began, the last reserved start) in a small file
under a file lock, then sleep outside the lock until their slot comes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from filelock import FileLock

#: seconds without any agent start after which the next starts form a burst again
QUIET = 60.0


def wait_for_slot(folder: Path, interval: float) -> float:
    """Block until this start's slot; return the wait (0 outside a burst)."""
    if interval <= 0:
        return 0.0
    folder.mkdir(parents=True, exist_ok=True)
    slots = folder / ".agent-starts"
    with FileLock(str(slots) + ".lock", timeout=60):
        burst, last = _read(slots)
        now = time.time()
        if now - last >= QUIET:
            burst = start = now  # the first start after a quiet spell begins a burst
        elif now < burst + interval:
            start = max(now, last + interval)  # asked for with the burst: spaced
        else:
            start = now
        last = max(start, last)
        slots.write_text(json.dumps({"burst": burst, "last": last}), encoding="utf-8")
    wait = start - now
    if wait > 0:
        time.sleep(wait)
    return wait


def _read(slots: Path) -> tuple[float, float]:
    """When the current burst began and the last reserved start (none yet: long ago)."""
    try:
        data = json.loads(slots.read_text(encoding="utf-8") or "{}")
        return float(data["burst"]), float(data["last"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0.0, 0.0
