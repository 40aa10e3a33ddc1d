"""Parsers of setting values: each takes (value, where it came from) and returns the typed
value or raises a one-line :class:`pytest.UsageError` naming where the value came from."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_roadmap.settings.declare import Parse


def text(value: object, where: str) -> str | None:
    """A string; None when empty."""
    return str(value) if value else None


def path(value: object, where: str) -> Path:
    """A path (made absolute from the roadmap's directory when settings are resolved)."""
    return Path(str(value))


def lines(value: object, where: str) -> tuple[str, ...]:
    """Command lines: an ini line list, a YAML list, or a string with one per line."""
    if isinstance(value, str):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return (str(value),)


def args(value: object, where: str) -> tuple[str, ...]:
    """Arguments: a shell-quoted string or a list."""
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def phases(value: object, where: str) -> frozenset[int]:
    """'2', '2-3' or '1,3' (and mixes: '1,3-4') as phase numbers."""
    spec = str(value)
    numbers: set[int] = set()
    try:
        for part in spec.split(","):
            first, sep, last = part.strip().partition("-")
            low, high = int(first), int(last) if sep else int(first)
            if low > high or low < 0:
                raise ValueError
            numbers.update(range(low, high + 1))
    except ValueError:
        raise pytest.UsageError(
            f"invalid phases {spec!r} from {where}: use a number, a range or a list, "
            "e.g. 2, 2-3 or 1,3"
        ) from None
    return frozenset(numbers)


def task_timeout(value: object, where: str) -> float:
    """A positive number of seconds."""
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise pytest.UsageError(
            f"invalid task timeout {value!r} from {where}: give a positive number of seconds"
        )
    return seconds


def positive(kind: type[int] | type[float], what: str) -> Parse:
    """A parser of positive ints or floats, called ``what`` in its error."""

    def parse(value: object, where: str) -> Any:
        try:
            number = kind(str(value))
        except ValueError:
            number = 0
        if not number > 0:
            raise pytest.UsageError(
                f"invalid {what} {value!r} from {where}: give a positive number"
            )
        return number

    return parse


def count(value: object, where: str) -> int:
    """A whole number >= 0."""
    try:
        number = int(str(value))
    except ValueError:
        number = -1
    if number < 0:
        raise pytest.UsageError(f"invalid count {value!r} from {where}: give a whole number >= 0")
    return number


def seconds(value: object, where: str) -> float:
    """A number of seconds >= 0."""
    try:
        number = float(str(value))
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise pytest.UsageError(f"invalid seconds {value!r} from {where}: give a number >= 0")
    return number


def flag(value: object, where: str) -> bool:
    """true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    answer = str(value).strip().lower()
    if answer in ("true", "yes", "on", "1"):
        return True
    if answer in ("false", "no", "off", "0"):
        return False
    raise pytest.UsageError(f"invalid value {value!r} from {where}: use true or false")


def choice(choices: Sequence[str], what: str) -> Parse:
    """A parser of one of ``choices`` (any case), called ``what`` in its error."""

    def parse(value: object, where: str) -> str:
        mode = str(value).strip().lower()
        if mode not in choices:
            names = ", ".join(repr(name) for name in choices)
            raise pytest.UsageError(f"invalid {what} {value!r} from {where}: use one of {names}")
        return mode

    return parse


def memory(value: object, where: str) -> int | None:
    """A memory size (512M, 2G) in bytes; None for 0."""
    from pytest_roadmap.resources import parse_size

    try:
        size = parse_size(str(value))
    except ValueError:
        raise pytest.UsageError(
            f"invalid memory size {value!r} from {where}: give e.g. 512M or 2G"
        ) from None
    return size or None


def services(value: object, where: str) -> tuple[str, ...]:
    """Command lines; 'none' (or nothing) is ()."""
    given = lines(value, where)
    return () if [line.lower() for line in given] in ([], ["none"]) else given


def report(value: object, where: str) -> Path | None:
    """A path, or None for 'none'."""
    answer = str(value).strip()
    return None if answer.lower() == "none" else Path(answer)


def percent(value: object, where: str) -> float:
    """A percentage from 0 up to (not including) 100; a trailing '%' is allowed."""
    try:
        number = float(str(value).strip().removesuffix("%"))
    except ValueError:
        number = -1.0
    if not 0 <= number < 100:
        raise pytest.UsageError(
            f"invalid percentage {value!r} from {where}: give a number from 0 to 99"
        )
    return number


def jobs(value: object, where: str) -> int:
    """A number of jobs >= 1, or 'auto': as many as the machine has CPUs."""
    text = str(value).strip().lower()
    if text == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise pytest.UsageError(
            f"invalid jobs {value!r} from {where}: give a whole number >= 1 or 'auto'"
        )
    return number
