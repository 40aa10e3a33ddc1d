"""Text as the run shows it: one-line reasons, cut cells, durations, dollars (no pytest here)."""

from __future__ import annotations

__all__ = ["REASON_MAX", "WIDTH", "dollars", "fit", "one_line", "seconds"]

#: the width of the summary and status tables
WIDTH = 120

REASON_MAX = 300


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """Collapse whitespace runs (newlines included) to single spaces; cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fit(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(line.strip() for line in text.splitlines()) if "\n" in text else text
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def seconds(value: float) -> str:
    """``4.2s``, ``3m05s``, ``1h02m``."""
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def dollars(value: float | None) -> str:
    """``$0.0123``, or ``""`` for no cost."""
    return "" if value is None else f"${value:.4f}"
