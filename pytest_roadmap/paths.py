"""Paths as the run finds and shows them (no pytest here)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["first_file", "shown"]


def shown(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it is below it, else as it is: for messages,
    report properties and links."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def first_file(folder: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` that is a file in ``folder``, or None."""
    for name in names:
        path = folder / name
        if path.is_file():
            return path
    return None
