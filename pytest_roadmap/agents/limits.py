"""Usage limits of subscription accounts: knowing one when an agent meets it, and its reset.

A Claude Pro/Max or ChatGPT plan allows so much use per window (five hours, a week);
past it, every request is refused until the window resets. That is not a failure of
the task: the run waits for the reset (up to ``settings.limit_wait``) and the task
continues its session. No pytest here.

What the agents say (the Claude Code CLI 2.1 with an OAuth login, checked; the rest as
users and the CLIs' sources report them):

- stream-json ``{"type": "rate_limit_event", "rate_limit_info": {"status": "rejected",
  "resetsAt": <epoch s>, "rateLimitType": "five_hour"}}``, then a result with
  ``api_error: "usage_limit_reached"`` and the text "You've hit your 5-hour limit ·
  resets 8:04am (UTC)"; ``status: "allowed_warning"`` says the account is close to it;
- older Claude Code: "Claude AI usage limit reached|<epoch s>", "Claude usage limit
  reached. Your limit will reset at 3pm (Europe/Berlin).";
- Codex: "You've hit your usage limit. … try again at 1:21 PM." (local time; another
  day: "Sep 3rd, 2025 1:21 PM"), or "Try again later." with no time.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time as clock
from datetime import timedelta
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from pytest_roadmap.model.usage import epoch_seconds
from pytest_roadmap.settings import flag
from pytest_roadmap.text import one_line

__all__ = [
    "LIMIT_MARGIN",
    "USAGE_LIMIT_ERROR",
    "LimitPlan",
    "UsageLimit",
    "describe_reset",
    "from_rate_limit_event",
    "from_text",
    "local_time",
    "parse_reset",
    "plan_wait",
    "stop_reason",
    "until_text",
]

#: seconds after the announced reset before agents start again (clocks differ a little)
LIMIT_MARGIN = 10.0
USAGE_LIMIT_ERROR = "usage_limit_reached"

#: rateLimitType values (and the names in the texts) as people say them
_KIND_LABELS = {
    "five_hour": "5-hour",
    "seven_day": "weekly",
    "seven_day_opus": "weekly Opus",
    "seven_day_sonnet": "weekly Sonnet",
}
_OLD_EPOCH = re.compile(r"usage limit reached\|(\d{9,12})")
_HIT = re.compile(
    r"(?:you[\u2019']ve|you have) hit your (?:(?P<kind>[\w -]+?) )?(?:usage )?limit"
    r"|usage limit reached|limit will reset",
    re.IGNORECASE,
)
_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
#: "8:04am", "1am", "1:21 PM", optionally after a date ("Oct 9", "Sep 3rd, 2025", "Oct 9 at")
#: and before a zone in parentheses
_RESET_AT = re.compile(
    r"(?:resets?(?: at)?|try again at)\s+"
    rf"(?:(?P<month>{_MONTHS})[a-z]*\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?"
    r"(?:\s+(?P<year>\d{4}))?,?(?:\s+at)?\s+)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?"
    r"(?:\s*\((?P<zone>[\w/+\-]+)\))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class UsageLimit:
    """A usage limit an agent met (or, with ``warning``, is close to)."""

    kind: str  # "five_hour", "seven_day", … or "" when the agent did not say
    resets_at: float | None  # epoch seconds; None when unknown
    text: str = ""  # the agent's own words, one line
    warning: bool = False

    @property
    def label(self) -> str:
        """``usage limit (5-hour)``, ``usage limit (weekly)`` or ``usage limit``."""
        name = _KIND_LABELS.get(self.kind, self.kind.replace("_", " "))
        return f"usage limit ({name})" if name else "usage limit"


@dataclass(frozen=True)
class LimitPlan:
    """What a task does about a usage limit: wait until ``until`` (epoch), or ``stop``."""

    limit: UsageLimit
    until: float | None
    stop: str | None = None


def plan_wait(
    limit: UsageLimit,
    now: float,
    max_wait: float,
    poll: float,
    waited: float = 0.0,
    again: bool = False,
) -> LimitPlan:
    """Wait for the reset (plus :data:`LIMIT_MARGIN`), or stop when that is further away than
    ``max_wait`` allows (less what the task ``waited`` already).

    An unknown reset is looked at again after ``poll`` seconds; a reset already past, at
    once (after the margin), unless the task met the limit ``again`` right after a wait:
    then after ``poll`` seconds, so that a clock that is wrong cannot hammer the API.
    """
    reset = limit.resets_at
    if reset is None or (reset <= now and again):
        until = now + poll
    else:
        until = max(reset, now) + LIMIT_MARGIN
    if max_wait > 0 and until - now <= max_wait - waited:
        return LimitPlan(limit, until)
    return LimitPlan(limit, None, stop_reason(limit, now, max_wait))


def describe_reset(limit: UsageLimit, now: float) -> str:
    """``resets at 08:04 (in 4h 12m)``, or ``its reset time is unknown``."""
    if limit.resets_at is None:
        return "its reset time is unknown"
    if limit.resets_at <= now:
        return f"reset at {local_time(limit.resets_at, now)}"
    when = local_time(limit.resets_at, now)
    return f"resets at {when} (in {until_text(limit.resets_at - now)})"


def stop_reason(limit: UsageLimit, now: float, max_wait: float) -> str:
    """Why the run stops instead of waiting, in one line."""
    why = (
        f"{flag('limit_wait')} is 0"
        if max_wait <= 0
        else f"longer than {flag('limit_wait')} allows ({until_text(max_wait)})"
    )
    return f"{limit.label} reached: {describe_reset(limit, now)}; {why}"


def from_rate_limit_event(event: Mapping[str, Any]) -> UsageLimit | None:
    """The limit a Claude Code ``rate_limit_event`` reports: rejected, or a warning."""
    info = event.get("rate_limit_info")
    if not isinstance(info, Mapping):
        return None
    status = info.get("status")
    if status not in ("rejected", "allowed_warning"):
        return None
    kind = info.get("rateLimitType")
    resets = info.get("resetsAt")
    return UsageLimit(
        kind=kind if isinstance(kind, str) else "",
        resets_at=epoch_seconds(resets),
        warning=status == "allowed_warning",
    )


def from_text(text: str, now: datetime | None = None, *, error: str = "") -> UsageLimit | None:
    """The limit a result text (or the API error code ``error``) reports, if it is one."""
    old = _OLD_EPOCH.search(text)
    if old:
        return UsageLimit("", float(old[1]), one_line(text))
    hit = _HIT.search(text)
    if hit is None and error != USAGE_LIMIT_ERROR:
        return None
    kind = _kind_of(hit["kind"] if hit is not None and hit.groupdict().get("kind") else "")
    return UsageLimit(kind, parse_reset(text, now), one_line(text))


def parse_reset(text: str, now: datetime | None = None) -> float | None:
    """The reset time a text names, as epoch seconds; None when it names none.

    A time without a date is its next occurrence (today, or tomorrow once it has passed),
    in the zone given in parentheses, else in local time.
    """
    match = _RESET_AT.search(text)
    if match is None or not (match["minute"] or match["ampm"]):
        return None  # "resets 5 …" is no time of day
    zone = _zone(match["zone"])
    if match["zone"] and zone is None:
        return None  # a zone we do not know: better unknown than wrong by hours
    current = (now or datetime.now().astimezone()).astimezone(zone)
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    ampm = (match["ampm"] or "").replace(".", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    at = clock(hour, minute)
    if match["month"]:
        day = _date(match["month"], int(match["day"]), match["year"], current.date())
        if day is None:
            return None
        return datetime.combine(day, at, current.tzinfo).timestamp()
    when = datetime.combine(current.date(), at, current.tzinfo)
    if when <= current - timedelta(minutes=1):
        when += timedelta(days=1)
    return when.timestamp()


def local_time(epoch: float, now: float) -> str:
    """``08:04`` today, ``Tue 08:04`` within a week, else ``2026-12-24 08:04``; local time."""
    when = datetime.fromtimestamp(epoch).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    if when.date() == today:
        return when.strftime("%H:%M")
    if timedelta(0) < when.date() - today < timedelta(days=7):
        return when.strftime("%a %H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def until_text(seconds: float) -> str:
    """``4h 12m``, ``12m``, ``40s``, ``2d 3h``."""
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _kind_of(words: str) -> str:
    """``5-hour`` → five_hour, ``weekly`` → seven_day; anything else as said."""
    text = words.strip().lower()
    if text in ("", "usage"):
        return ""
    if text in ("5-hour", "five-hour", "5 hour", "session"):
        return "five_hour"
    if text.startswith(("weekly", "7-day", "seven-day")):
        model = text.split(maxsplit=1)[1:]
        return "seven_day" + (f"_{model[0].replace(' ', '_')}" if model else "")
    return text.replace(" ", "_").replace("-", "_")


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return datetime.now().astimezone().tzinfo
    if name.upper() in ("UTC", "GMT", "Z"):
        return ZoneInfo("UTC")
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(name)
    return None


def _date(month: str, day: int, year: str | None, today: date) -> date | None:
    number = _MONTHS.split("|").index(month[:3].lower()) + 1
    try:
        found = date(int(year) if year else today.year, number, day)
    except ValueError:
        return None
    if year is None and found < today - timedelta(days=1):
        found = found.replace(year=today.year + 1)  # "Jan 2" said in late December
    return found
