"""Paths as the run finds, shows and writes them (no pytest here)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["atomic_write", "first_file", "inside", "relative_to", "shown"]

#: status files are for everyone to read
FILE_MODE = 0o644


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


def atomic_write(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that readers never see half a file.

    ``durable`` also syncs it to disk first, so that a power loss leaves the old file or
    the new one; the live progress files skip that, as the next run rewrites them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; status files are for everyone to read
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def inside(path: Path, top: Path) -> bool:
    """True when ``path`` (resolved) lies below ``top``."""
    try:
        path.resolve().relative_to(top.resolve())
    except ValueError:
        return False
    return True


def relative_to(path: Path, top: Path) -> str:
    """``path`` relative to ``top``, both resolved (``path`` must lie below it).

    A symbolic link is named where it lies, not where it points.
    """
    return str((path.parent.resolve() / path.name).relative_to(top.resolve()))
