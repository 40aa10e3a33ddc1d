"""Notify URLs: run events sent to any service through the ``apprise`` library.

Apprise (an optional extra: ``pip install 'pytest-roadmap[notify]'``) knows ntfy, Slack,
Discord, mail, plain JSON over HTTP and many more, each from one URL. A URL holds its
service's token: it is shown only as ``scheme://***`` (see
:mod:`pytest_roadmap.settings.targets`), and apprise's own log, which names URLs, is kept
out of pytest's captured logs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_roadmap.settings import name
from pytest_roadmap.settings.targets import is_url
from pytest_roadmap.settings.targets import masked

__all__ = ["INSTALL_HINT", "check", "send"]

INSTALL_HINT = "pip install 'pytest-roadmap[notify]'"


def check(values: Sequence[str]) -> None:
    """Before the run: every notify value is a URL or a command, and every URL is one that
    apprise knows (else one clear line)."""
    urls = [value for value in values if is_url(value, name("notify"))]
    if not urls:
        return
    apprise = _apprise()
    if apprise is None:
        raise pytest.UsageError(
            f"{name('notify')} has a URL ({masked(urls[0])}) but the apprise library is not "
            f"installed: {INSTALL_HINT}"
        )
    for url in urls:
        if not _quiet(apprise).add(url):
            raise pytest.UsageError(
                f"{name('notify')}: {masked(url)} is no URL apprise knows "
                "(see apprise's list of services)"
            )


def send(url: str, event: str, message: str) -> str | None:
    """Send one event to ``url``; a warning's text when that failed."""
    apprise = _apprise()
    if apprise is None:
        return f"notify URL {masked(url)}: the apprise library is missing: {INSTALL_HINT}"
    sender = _quiet(apprise)
    if not sender.add(url):
        return f"notify URL {masked(url)} is no URL apprise knows"
    try:
        sent = sender.notify(title=f"roadmap: {event}", body=message)
    except Exception as exc:  # a failure of the service is a warning, never a failure
        return f"notify URL {masked(url)} ({event}) failed: {type(exc).__name__}"
    return None if sent else f"notify URL {masked(url)} ({event}) could not be delivered"


def _apprise() -> Any:
    try:
        with warnings.catch_warnings():  # apprise 1.9 imports imghdr (deprecated in 3.11)
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise
    except ImportError:
        return None
    return apprise


def _quiet(apprise: Any) -> Any:
    """An ``Apprise`` object whose log (it names URLs) reaches no handler of pytest's."""
    logger = logging.getLogger("apprise")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return apprise.Apprise()
