"""The usage reserve: keep part of the subscription's allowance for the user.

The agents report, per window (5-hour, weekly, …), how much of the allowance is used
(see :mod:`pytest_roadmap.model.usage`). With the usage reserve setting at R %, while any
window's last reported utilization is at or above 100 - R %, no new task starts until
that window resets; running tasks finish. It is the controller-wide pause of a usage
limit: the live view shows it, the report lists it among the waits (``limit_wait``) and
the notify commands hear ``limit_wait`` and ``limit_resumed``. A reset further away than
the limit wait setting allows stops the run instead, with the resume command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_roadmap import channel
from pytest_roadmap.agents import limits
from pytest_roadmap.context import RoadmapRun
from pytest_roadmap.model.usage import WindowUsage
from pytest_roadmap.segments import Segment
from pytest_roadmap.settings import flag

__all__ = ["UsageReserve", "hold_line"]

#: seconds slept at a time by a serial run holding its next task
HOLD_SLICE = 1.0


def hold_line(window: WindowUsage, reserve: float) -> str:
    """``5-hour window 95% used (reserve 10%)``."""
    return f"{window.name} window {window.percent}% used (reserve {reserve:g}%)"


class UsageReserve:
    """The controller's side of the reserve: it learns the usage, and holds new tasks."""

    def __init__(
        self,
        config: pytest.Config,
        run: RoadmapRun,
        line: Callable[[str], None],
        notify: Callable[[str, str], None],
        stop: Callable[[str], None],
    ) -> None:
        self.config = config
        self.run = run
        self.percent = run.settings.usage_reserve
        self._line = line
        self._notify = notify
        self._stop = stop
        self.holding: str | None = None  # the hold line while the reserve holds tasks
        self.until: float | None = None  # when the hold ends (epoch seconds)
        self.stopped = False  # the run stopped: a window resets later than the run may wait

    def on_usage(self, message: Mapping[str, Any], now: float | None = None) -> None:
        """A running agent reported the utilization of windows: keep it, and hold if due."""
        now = time.time() if now is None else now
        raw = message.get("windows")
        found = [WindowUsage.of(w) for w in raw if isinstance(w, Mapping)] if raw else []
        self.run.usage.update((w.kind, w) for w in found if w is not None)
        self.check(now)

    def check(self, now: float) -> None:
        """Hold new tasks while a window is over the line; let them go once it reset."""
        if self.until is not None and now >= self.until:
            self._release(now)
        over = self.over(self.run.usage.values(), now)
        if over is None:
            return
        window, until = over
        if self.until is not None and until <= self.until:
            return  # held already, as long
        self._hold(window, until, now)

    def over(self, windows: Iterable[WindowUsage], now: float) -> tuple[WindowUsage, float] | None:
        """The window over the line that resets last, and when tasks may start again."""
        if self.percent <= 0:
            return None
        line = 1 - self.percent / 100
        poll = self.run.settings.limit_poll
        found: tuple[WindowUsage, float] | None = None
        for window in windows:
            if window.utilization + 1e-9 < line:
                continue
            reset = window.resets_at
            if reset is not None and reset <= now:
                continue  # reset since it was reported
            until = now + poll if reset is None else reset + limits.LIMIT_MARGIN
            if found is None or until > found[1]:
                found = (window, until)
        return found

    def wait_before_task(self) -> None:
        """A serial run: sleep while the reserve holds new tasks."""
        while self.until is not None and (left := self.until - time.time()) > 0:
            time.sleep(min(left, HOLD_SLICE))
        if self.until is not None:
            self._release(time.time())

    def _hold(self, window: WindowUsage, until: float, now: float) -> None:
        text = hold_line(window, self.percent)
        max_wait = self.run.settings.limit_wait
        if max_wait <= 0 or until - now > max_wait:
            if not self.stopped:
                self.stopped = True
                self._stop(f"{text}: {self._too_far(window, now, max_wait)}")
            return
        progress = self.run.progress
        assert progress is not None
        last = self.run.waits[-1] if self.run.waits else None
        if self.until is not None and last is not None and last.note == text:
            self.run.waits[-1] = Segment("limit_wait", last.start, until, text)  # held longer
        else:
            self.run.waits.append(Segment("limit_wait", now, until, text))
        self.holding, self.until = text, until
        progress.pause(until, text)
        reset = window.resets_at if window.resets_at is not None else until
        when = limits.local_time(reset, now)
        line = f"{text}: no new task until {when} (in {limits.until_text(reset - now)})"
        self._line(line)
        self._notify("limit_wait", line)
        channel.wake_later(self.config, until - now + 0.5)

    def _release(self, now: float) -> None:
        text, self.holding, self.until = self.holding, None, None
        for kind in [k for k, w in self.run.usage.items() if w.resets_at is None]:
            del self.run.usage[kind]  # unknown since: the next agent says
        progress = self.run.progress
        assert progress is not None
        if progress.paused(now) or text is None:
            return  # a usage limit a task waits for holds longer: its end resumes the run
        progress.resume()
        if self.run.waits and self.run.waits[-1].kind == "limit_wait":
            last = self.run.waits[-1]
            self.run.waits[-1] = Segment("limit_wait", last.start, now, last.note)
        line = f"{text}: the window reset, the run goes on"
        self._line(line)
        self._notify("limit_resumed", line)

    @staticmethod
    def _too_far(window: WindowUsage, now: float, max_wait: float) -> str:
        limit = limits.UsageLimit(window.kind, window.resets_at)
        why = (
            f"{flag('limit_wait')} is 0"
            if max_wait <= 0
            else f"longer than {flag('limit_wait')} allows ({limits.until_text(max_wait)})"
        )
        return f"{limits.describe_reset(limit, now)}; {why}"
