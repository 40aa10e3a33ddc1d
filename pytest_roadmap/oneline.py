"""One line of text, for failure reasons and limit messages (no pytest here)."""

from __future__ import annotations

__all__ = ["REASON_MAX", "one_line"]

REASON_MAX = 300


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """Collapse whitespace runs (newlines included) to single spaces; cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
