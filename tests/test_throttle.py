"""Unit tests of pytest_roadmap.throttle."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_roadmap.throttle import Throttle


class Writes:
    def __init__(self, fail: bool = False) -> None:
        self.count = 0
        self.fail = fail
        self.done = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.done.set()
        if self.fail:
            raise OSError("disk full")


def test_first_request_writes_at_once_later_ones_are_coalesced() -> None:
    writes = Writes()
    throttle = Throttle(writes, interval=3600)
    throttle.request()
    assert writes.count == 1
    for _ in range(5):
        throttle.request()
    assert writes.count == 1  # an hour has not passed: one write waits for the timer
    throttle.flush()
    assert writes.count == 2
    throttle.flush()
    assert writes.count == 2  # nothing new was requested


def test_the_timer_writes_the_last_request() -> None:
    writes = Writes()
    throttle = Throttle(writes, interval=0.05)
    throttle.request()
    writes.done.clear()
    throttle.request()
    assert writes.done.wait(10)
    deadline = time.monotonic() + 10
    while writes.count < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writes.count == 2
    throttle.flush()
    assert writes.count == 2


def test_an_error_in_the_timer_is_raised_in_the_callers_thread() -> None:
    writes = Writes()
    throttle = Throttle(writes, interval=0.05)
    throttle.request()
    writes.fail = True
    writes.done.clear()
    throttle.request()
    assert writes.done.wait(10)
    deadline = time.monotonic() + 10
    while throttle._error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(OSError, match="disk full"):
        throttle.flush()
    throttle.flush()  # raised once only
