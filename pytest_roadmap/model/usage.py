"""How much of a subscription's allowance is used, per window, as the agent reports it.

Claude Code 2.1 logged in with a subscription prints a ``rate_limit_event`` whenever the
account's rate-limit state changes::

    {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed_warning",
     "resetsAt": 1796530206, "rateLimitType": "five_hour", "utilization": 0.93,
     "unifiedWindows": {"five_hour": {"utilization": 0.93, "resetsAt": 1796530206,
     "status": "allowed_warning"}}}}

A window (``five_hour``, ``seven_day``, …) may come as the event's own type or in
``unifiedWindows``; fields may be missing. No pytest here.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "WINDOW_NAMES",
    "WindowUsage",
    "epoch_seconds",
    "from_event",
    "usage_text",
    "window_name",
]

#: rateLimitType values as people say them
WINDOW_NAMES = {
    "five_hour": "5-hour",
    "seven_day": "weekly",
    "seven_day_opus": "weekly Opus",
    "seven_day_sonnet": "weekly Sonnet",
}


@dataclass(frozen=True)
class WindowUsage:
    """The last utilization reported for one window: a fraction (0.95 is 95 %)."""

    kind: str
    utilization: float
    resets_at: float | None = None  # epoch seconds; None when not said

    @property
    def percent(self) -> int:
        """The utilization in whole percent, rounded down (0.999 is 99, not 100)."""
        return int(self.utilization * 100 + 1e-9)

    @property
    def name(self) -> str:
        """``5-hour``, ``weekly``, …"""
        return window_name(self.kind)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, to cross xdist's channel."""
        return {"kind": self.kind, "utilization": self.utilization, "resets_at": self.resets_at}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> WindowUsage | None:
        """The inverse of :meth:`as_dict`; None for anything else."""
        kind, used = data.get("kind"), _fraction(data.get("utilization"))
        if not isinstance(kind, str) or not kind or used is None:
            return None
        return cls(kind, used, epoch_seconds(data.get("resets_at")))


def window_name(kind: str) -> str:
    """``five_hour`` → ``5-hour``; an unknown kind as said, without underscores."""
    return WINDOW_NAMES.get(kind, kind.replace("_", " "))


def usage_text(windows: Iterable[WindowUsage]) -> str:
    """``allowance used: 5-hour 95%, weekly 40%`` (the last seen of each window), or ''."""
    parts = [f"{w.name} {w.percent}%" for w in sorted(windows, key=lambda w: w.kind)]
    return f"allowance used: {', '.join(parts)}" if parts else ""


def from_event(event: Mapping[str, Any]) -> list[WindowUsage]:
    """Every window whose utilization a ``rate_limit_event`` reports (none when it says none)."""
    info = event.get("rate_limit_info")
    if not isinstance(info, Mapping):
        return []
    found: dict[str, WindowUsage] = {}
    kind = info.get("rateLimitType")
    used = _fraction(info.get("utilization"))
    if isinstance(kind, str) and kind and used is not None:
        found[kind] = WindowUsage(kind, used, epoch_seconds(info.get("resetsAt")))
    windows = info.get("unifiedWindows")
    for name, window in windows.items() if isinstance(windows, Mapping) else ():
        used = _fraction(window.get("utilization")) if isinstance(window, Mapping) else None
        if isinstance(name, str) and name and used is not None:
            assert isinstance(window, Mapping)
            found[name] = WindowUsage(name, used, epoch_seconds(window.get("resetsAt")))
    return list(found.values())


def _fraction(value: Any) -> float | None:
    """A utilization: a fraction (0.95), a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if not isinstance(value, str):
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    number = float(value)
    if number != number or number < 0:  # NaN or negative
        return None
    return number


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds from seconds or milliseconds (a number or its text); None otherwise."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    return seconds if seconds > 0 else None
