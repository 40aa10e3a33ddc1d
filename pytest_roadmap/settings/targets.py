"""What a notify value is: an Apprise URL or a shell command line, and how to show it.

The rule: a value that starts with ``scheme://`` and holds no shell syntax (no blank,
none of ``;|&<>$`()'"\\``, though one ``&`` between URL parameters is allowed) is a URL;
a value that starts with ``scheme://`` and does hold shell syntax is refused (one line);
everything else is a shell command. URLs hold tokens: they are shown only as
``scheme://***``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

__all__ = ["is_url", "masked", "masked_args"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SHELL = re.compile(r"[\s;|<>$`()'\"\\]|&&|&$")


def is_url(value: str, where: str = "the notify setting") -> bool:
    """True for an Apprise URL; False for a shell command; UsageError when it looks like
    both."""
    text = value.strip()
    if _SCHEME.match(text) is None:
        return False
    found = _SHELL.search(text)
    if found is None:
        return True
    raise pytest.UsageError(
        f"ambiguous notify value from {where}: {masked(text)} starts like a URL but holds "
        f"shell syntax ({found.group(0).strip() or 'a blank'!s}): give a URL alone, or a "
        "command that starts with its program"
    )


def masked(value: str) -> str:
    """``ntfy://***`` for a URL (its scheme only); anything else as it is."""
    found = _SCHEME.match(value.strip())
    return f"{found.group(0)}***" if found else value


def masked_args(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """Command-line ``args`` with every URL given to the notify setting masked: after its
    option, or as ``NAME=URL`` (its option or ini name, e.g. in ``-o``)."""
    out: list[str] = []
    after_option = False
    for arg in args:
        key, sep, value = arg.partition("=")
        if after_option and _is_plain_url(arg):
            out.append(masked(arg))
        elif sep and key in names and _is_plain_url(value):
            out.append(f"{key}={masked(value)}")
        else:
            out.append(arg)
        after_option = arg in names
    return out


def _is_plain_url(value: str) -> bool:
    return _SCHEME.match(value.strip()) is not None
