"""Secrets kept out of what people read: values of secret-looking environment variables
(API keys, tokens) are replaced in the reports of roadmap items, which feed the terminal,
JUnit XML, status files and the cache."""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from collections.abc import Mapping

import pytest

__all__ = ["SecretFilter", "redact", "secret_values"]

#: shortest environment value that is treated as a secret
SECRET_MIN_LENGTH = 8

_SECRET_NAME = re.compile(r"API_?KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|PRIVATE_KEY", re.I)


def secret_values(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(name, value) of secret-looking variables, longest value first."""
    env = os.environ if environ is None else environ
    found = [
        (name, value)
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value.strip()) >= SECRET_MIN_LENGTH
    ]
    return sorted(found, key=lambda pair: -len(pair[1]))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret environment value replaced by ``[redacted NAME]``."""
    return _redacted(text, secret_values(environ))


def _redacted(text: str, secrets: list[tuple[str, str]]) -> str:
    for name, value in secrets:
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text


class SecretFilter:
    """Redacts secrets in the reports of roadmap items, where they are made (worker or not).

    The secrets are those of the environment as the first report is made: scanning it
    again for every report cost about half a millisecond per item (measured).
    """

    def __init__(self) -> None:
        self.secrets: list[tuple[str, str]] | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.secrets is None:
            self.secrets = secret_values()
        secrets = self.secrets
        if isinstance(report.longrepr, str):
            report.longrepr = _redacted(report.longrepr, secrets)
        report.user_properties = [
            (name, _redacted(value, secrets) if isinstance(value, str) else value)
            for name, value in report.user_properties
        ]
        report.sections = [(title, _redacted(body, secrets)) for title, body in report.sections]
        spans = getattr(report, "roadmap_segments", None)  # the timeline's notes (segments.py)
        if isinstance(spans, list):
            report.roadmap_segments = [  # type: ignore[attr-defined]
                {**span, "note": _redacted(str(span.get("note", "")), secrets)}
                if isinstance(span, dict)
                else span
                for span in spans
            ]
        return report
