"""Staggered agent starts: bursts are spaced, starts already spread out are not.

A burst is the wave of starts that follows a quiet spell: the first agents of a run, of a
group after a long gate, or of a resume after a usage-limit wait. Those are the moments
when many agents call the API, and read or refresh the same credentials, in the same
instant. Within such a wave each start comes ``interval`` seconds after the one before.
The wave ends at the first start that comes ``interval`` or more after the previous one
on its own (tasks ending at different times spread their successors out already); from
then on starts go at once, until the machine has been quiet for ``QUIET`` seconds again.

Workers share the state (last reserved start, whether a wave is on) in a small file under
a file lock, then sleep outside the lock until their slot comes.
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
        last, burst = _read(slots)
        now = time.time()
        if now - last >= QUIET:
            start, burst = now, True  # the first start after a quiet spell
        elif now >= last + interval:
            start, burst = now, False  # spread out already: the wave is over
        elif burst:
            start = last + interval  # within a wave: spaced
        else:
            start = now
        slots.write_text(json.dumps({"last": max(start, last), "burst": burst}), encoding="utf-8")
    wait = start - now
    if wait > 0:
        time.sleep(wait)
    return wait


def _read(slots: Path) -> tuple[float, bool]:
    """The last reserved start and whether a burst is on (none yet: long ago)."""
    try:
        data = json.loads(slots.read_text(encoding="utf-8") or "{}")
        return float(data["last"]), bool(data["burst"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0.0, False
