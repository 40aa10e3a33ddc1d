"""Spans of time inside one item, for the run's timeline: agent attempts and the waits between.

An item records each span as it ends (:func:`record`, or :func:`span` around a block).
The item's call report carries them to the controller as ``report.roadmap_segments``
(pytest serialises a report's attributes, so they cross xdist's channel too): a list of
``{"kind", "start", "end", "note"}`` dicts, times from the wall clock (``time.time()``)
of the process that ran the item.

Kinds: ``agent`` (one agent run: a task attempt; note: its outcome), ``stagger_wait``
(held back so that agents do not start in the same instant), ``retry_wait`` (the backoff
before a retry), ``limit_wait`` (waiting for a usage limit to reset), ``gate`` (one run of
a gate's commands), ``repair`` (a gate's repair agent), ``check`` (one run of a task's
check; note: before or after, the command and how it ended).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["REPORT_ATTR", "Segment", "attach", "of_report", "record", "span"]

REPORT_ATTR = "roadmap_segments"
_segments_key = pytest.StashKey[list[dict[str, Any]]]()


@dataclass(frozen=True)
class Segment:
    """One span of an item's time."""

    kind: str
    start: float
    end: float
    note: str = ""

    @property
    def duration(self) -> float:
        """Seconds, never negative."""
        return max(0.0, self.end - self.start)


def record(item: pytest.Item, kind: str, start: float, end: float, note: str = "") -> None:
    """Add a span to ``item``'s timeline."""
    spans = item.stash.setdefault(_segments_key, [])
    spans.append({"kind": kind, "start": start, "end": end, "note": note})


@contextlib.contextmanager
def span(item: pytest.Item, kind: str, note: str = "") -> Iterator[None]:
    """Record the time the ``with`` block takes (also when it raises)."""
    start = time.time()
    try:
        yield
    finally:
        record(item, kind, start, time.time(), note)


def attach(item: pytest.Item, report: pytest.TestReport) -> None:
    """Give ``report`` the spans ``item`` recorded so far."""
    spans = item.stash.get(_segments_key, None)
    if spans:
        setattr(report, REPORT_ATTR, list(spans))


def of_report(report: pytest.TestReport) -> list[Segment]:
    """The spans a report carries (none for reports of other items)."""
    raw = getattr(report, REPORT_ATTR, None)
    found = []
    for entry in raw if isinstance(raw, list) else ():
        try:
            found.append(
                Segment(
                    str(entry["kind"]),
                    float(entry["start"]),
                    float(entry["end"]),
                    str(entry.get("note", "")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return found
