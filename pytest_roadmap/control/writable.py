"""Directories the run writes to: checked before it starts, and one line when a write fails."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pytest_roadmap.paths import shown
from pytest_roadmap.settings import Settings

__all__ = ["check_writable", "make_dir", "strerror", "write_error", "write_problem"]


def check_writable(settings: Settings) -> None:
    """UsageError ``cannot write status files in <dir>: <strerror>`` (logs alike).

    Creates a missing directory, then a temporary file in it, and removes the file.
    """
    for folder, what in ((settings.status_dir, "status files"), (settings.log_dir, "logs")):
        problem = write_problem(folder)
        if problem:
            raise pytest.UsageError(
                f"cannot write {what} in {shown(folder, settings.project_dir)}: {problem}"
            )


def write_problem(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (created if missing), or None."""
    try:
        make_dir(folder)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".roadmap-write-check.")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return strerror(exc)
    return None


def make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the directory should be
        raise NotADirectoryError(20, os.strerror(20), str(folder)) from None


def write_error(exc: OSError, status_dir: Path, project_dir: Path) -> str:
    """``cannot write status files in status: No space left on device``, for any state write."""
    folder = Path(exc.filename) if isinstance(exc.filename, str) else status_dir
    if folder != status_dir and not folder.is_dir():
        folder = folder.parent
    reason = strerror(exc)
    if isinstance(exc, FileExistsError) and not folder.is_dir():
        reason = os.strerror(20)  # mkdir found a file where the directory should be
    return f"cannot write status files in {shown(folder, project_dir)}: {reason}"


def strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)
