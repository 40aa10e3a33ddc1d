"""Usage limits: every form the agents use to say so, and what the run does about the reset."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from pytest_roadmap.agents import limits
from pytest_roadmap.agents.limits import LIMIT_MARGIN
from pytest_roadmap.agents.limits import UsageLimit

UTC = timezone.utc
#: 2026-12-01 06:00 UTC, a Tuesday
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def epoch(*args: int, tz: object = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[arg-type,misc]


@pytest.mark.parametrize(
    ("text", "kind", "resets_at"),
    [
        (
            "You've hit your 5-hour limit · resets 8:04am (UTC)",
            "five_hour",
            epoch(2026, 12, 1, 8, 4),
        ),
        (
            "You\u2019ve hit your weekly limit · resets 3pm (UTC)",
            "seven_day",
            epoch(2026, 12, 1, 15, 0),
        ),
        ("You've hit your limit · resets 5:30am (UTC)", "", epoch(2026, 12, 2, 5, 30)),
        ("Claude AI usage limit reached|1764583440", "", 1764583440.0),
        (
            "Claude usage limit reached. Your limit will reset at 3pm (Europe/Berlin).",
            "",
            epoch(2026, 12, 1, 15, 0, tz=ZoneInfo("Europe/Berlin")),
        ),
        (
            "You've hit your usage limit. Upgrade to Pro or try again at Dec 3rd, 2026 1:21 PM.",
            "",
            datetime(2026, 12, 3, 13, 21).astimezone().timestamp(),
        ),
    ],
    ids=[
        "claude-new",
        "claude-weekly-curly",
        "claude-tomorrow",
        "claude-old-epoch",
        "claude-old-zone",
        "codex-dated",
    ],
)
def test_every_message_form_names_the_limit_and_its_reset(
    text: str, kind: str, resets_at: float
) -> None:
    limit = limits.from_text(text, NOW)
    assert limit is not None
    assert (limit.kind, limit.resets_at, limit.warning) == (kind, resets_at, False)
    assert limit.text == text


def test_codex_time_without_a_date_is_its_next_occurrence_in_local_time() -> None:
    now = datetime(2026, 12, 1, 14, 0).astimezone()
    limit = limits.from_text("You've hit your usage limit. Try again at 1:21 PM.", now)
    assert limit is not None
    assert limit.resets_at == datetime(2026, 12, 2, 13, 21).astimezone().timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "You've hit your usage limit. Try again later.",  # Codex, no time
        "You've hit your 5-hour limit · resets 5",  # a number, not a time of day
        "You've hit your 5-hour limit · resets 8:04am (Mars/Olympus)",  # unknown zone
        "You've hit your 5-hour limit · resets 25:10",
    ],
)
def test_an_unparseable_reset_is_unknown_not_guessed(text: str) -> None:
    limit = limits.from_text(text, NOW)
    assert limit is not None and limit.resets_at is None


def test_the_api_error_code_alone_is_a_limit() -> None:
    limit = limits.from_text("API Error: 429", NOW, error=limits.USAGE_LIMIT_ERROR)
    assert limit == UsageLimit("", None, "API Error: 429")


@pytest.mark.parametrize(
    "text",
    ["All done: the limit is 5 requests per hour.", "API Error: 529 overloaded", ""],
)
def test_other_texts_are_no_limit(text: str) -> None:
    assert limits.from_text(text, NOW) is None


def test_rate_limit_events() -> None:
    rejected = {
        "type": "rate_limit_event",
        "rate_limit_info": {
            "status": "rejected",
            "resetsAt": 1764583440,
            "rateLimitType": "five_hour",
        },
    }
    assert limits.from_rate_limit_event(rejected) == UsageLimit("five_hour", 1764583440.0)
    warned = {"rate_limit_info": {"status": "allowed_warning", "resetsAt": 1764583440000}}
    assert limits.from_rate_limit_event(warned) == UsageLimit("", 1764583440.0, warning=True)
    assert limits.from_rate_limit_event({"rate_limit_info": {"status": "allowed"}}) is None
    assert limits.from_rate_limit_event({"rate_limit_info": "rejected"}) is None
    odd = {"rate_limit_info": {"status": "rejected", "resetsAt": "soon", "rateLimitType": 5}}
    assert limits.from_rate_limit_event(odd) == UsageLimit("", None)


def test_labels_say_the_window_as_people_do() -> None:
    assert UsageLimit("five_hour", None).label == "usage limit (5-hour)"
    assert UsageLimit("seven_day_opus", None).label == "usage limit (weekly Opus)"
    assert UsageLimit("", None).label == "usage limit"


NOW_S = NOW.timestamp()
HOUR = 3600.0


def test_a_reset_within_the_wait_is_waited_for_with_a_margin() -> None:
    plan = limits.plan_wait(UsageLimit("five_hour", NOW_S + 30), NOW_S, 6 * HOUR, 900)
    assert (plan.until, plan.stop) == (NOW_S + 30 + LIMIT_MARGIN, None)


def test_a_reset_in_the_past_goes_on_at_once_and_a_second_hit_waits_a_poll() -> None:
    past = UsageLimit("five_hour", NOW_S - 60)
    assert limits.plan_wait(past, NOW_S, 6 * HOUR, 900).until == NOW_S + LIMIT_MARGIN
    again = limits.plan_wait(past, NOW_S, 6 * HOUR, 900, waited=70, again=True)
    assert again.until == NOW_S + 900


def test_an_unknown_reset_is_looked_at_again_after_the_poll() -> None:
    plan = limits.plan_wait(UsageLimit("", None), NOW_S, 6 * HOUR, 900)
    assert plan.until == NOW_S + 900


def test_a_reset_further_than_the_wait_stops_and_says_when() -> None:
    far = UsageLimit("seven_day", NOW_S + 3 * 86400)
    plan = limits.plan_wait(far, NOW_S, 6 * HOUR, 900)
    assert plan.until is None and plan.stop is not None
    assert plan.stop.startswith("usage limit (weekly) reached: resets at ")
    assert "(in 3d 0h); longer than --roadmap-limit-wait allows (6h 00m)" in plan.stop


def test_limit_wait_zero_stops_even_for_a_near_reset() -> None:
    plan = limits.plan_wait(UsageLimit("five_hour", NOW_S + 30), NOW_S, 0, 900)
    assert plan.stop is not None and plan.stop.endswith("--roadmap-limit-wait is 0")


def test_time_already_waited_counts_against_the_wait() -> None:
    limit = UsageLimit("five_hour", NOW_S + HOUR)
    assert limits.plan_wait(limit, NOW_S, 2 * HOUR, 900, waited=0.5 * HOUR).stop is None
    assert limits.plan_wait(limit, NOW_S, 2 * HOUR, 900, waited=1.5 * HOUR).stop is not None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (40, "40s"),
        (12 * 60, "12m"),
        (4 * 3600 + 12 * 60, "4h 12m"),
        (2 * 86400 + 3 * 3600, "2d 3h"),
    ],
)
def test_until_text(seconds: float, text: str) -> None:
    assert limits.until_text(seconds) == text


def test_local_time_names_the_day_only_when_it_is_not_today() -> None:
    now = datetime(2026, 12, 1, 6, 0).astimezone().timestamp()
    assert limits.local_time(now + 2 * HOUR, now) == "08:00"
    assert limits.local_time(now + 24 * HOUR, now) == "Wed 06:00"
    assert limits.local_time(now + 30 * 86400, now) == "2026-12-31 06:00"
