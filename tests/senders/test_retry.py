"""The retry policy: schedule, jitter, Retry-After bounds, status classes, tiers."""
from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from senders.errors import (
    ClientError,
    GoneError,
    RedirectRefused,
    RetryableStatus,
    ServerError,
    TooManyRequests,
)
from senders.retry import (
    DEFAULT_DELAYS_S,
    RetrySchedule,
    classify_status,
    error_for_status,
    parse_retry_after,
    tier_for,
    tier_name,
)

NOW = 1_795_000_000.0


def test_default_schedule_without_jitter() -> None:
    schedule = RetrySchedule(jitter=0)
    rng = random.Random(1)
    assert [schedule.delay_for(a, None, rng) for a in range(1, 9)] == \
        [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert schedule.max_attempts == 8
    assert sum(DEFAULT_DELAYS_S) / 3600 == pytest.approx(27.6, abs=0.05)


def test_jitter_stays_within_bounds_and_spreads() -> None:
    schedule = RetrySchedule()
    rng = random.Random(7)
    delays = [schedule.delay_for(2, None, rng) for _ in range(2000)]
    assert all(d is not None and 240 <= d <= 360 for d in delays)
    assert min(d for d in delays if d) < 250 and max(d for d in delays if d) > 350


def test_retry_after_is_a_floor_raiser_capped_at_the_maximum() -> None:
    schedule = RetrySchedule(jitter=0, max_retry_after_s=3600)
    rng = random.Random(1)
    assert schedule.delay_for(1, 0, rng) == 5  # Retry-After: 0 cannot shorten the schedule
    assert schedule.delay_for(1, 120, rng) == 120
    assert schedule.delay_for(1, 10**9, rng) == 3600  # capped
    assert schedule.delay_for(4, 60, rng) == 7200  # the schedule already waits longer
    assert schedule.delay_for(7, 10**9, rng) == 36000  # the cap never shortens the schedule
    assert schedule.delay_for(8, 60, rng) is None  # Retry-After does not add attempts


def test_max_age() -> None:
    schedule = RetrySchedule(jitter=0, max_age_s=3600)
    rng = random.Random(1)
    assert schedule.delay_for(2, None, rng, age_s=100) == 300
    assert schedule.delay_for(3, None, rng, age_s=1800) == 1800  # lands exactly at max_age_s
    assert schedule.delay_for(3, None, rng, age_s=1801) is None
    assert schedule.delay_for(1, 7200, rng, age_s=0) is None  # a long Retry-After counts too


@pytest.mark.parametrize("kwargs, message", [
    ({"delays_s": (5, 0)}, "delays_s"), ({"jitter": 1.0}, "jitter"),
    ({"max_retry_after_s": 0}, "max_retry_after_s"), ({"max_age_s": -1}, "max_age_s"),
])
def test_bad_schedule(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetrySchedule(**kwargs)  # type: ignore[arg-type]


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RetrySchedule().delay_for(0, None, random.Random())


@pytest.mark.parametrize("status, expected", [
    (200, "ok"), (201, "ok"), (204, "ok"), (299, "ok"),
    (408, "retry"), (425, "retry"), (429, "retry"), (500, "retry"), (502, "retry"),
    (503, "retry"), (599, "retry"),
    (410, "gone"),
    (100, "permanent"), (301, "permanent"), (302, "permanent"), (304, "permanent"),
    (400, "permanent"), (401, "permanent"), (403, "permanent"), (404, "permanent"),
    (405, "permanent"), (409, "permanent"), (413, "permanent"), (422, "permanent"),
    (451, "permanent"), (600, "permanent"),
])
def test_classify_status(status: int, expected: str) -> None:
    assert classify_status(status) == expected


def test_error_for_status() -> None:
    assert error_for_status(204) is None
    assert type(error_for_status(503, 30)) is ServerError
    too_many = error_for_status(429, 12.0)
    assert type(too_many) is TooManyRequests and too_many.retry_after_s == 12.0
    assert type(error_for_status(408)) is RetryableStatus
    assert type(error_for_status(410)) is GoneError
    redirect = error_for_status(302, location="https://elsewhere.example/")
    assert type(redirect) is RedirectRefused and "elsewhere.example" in str(redirect)
    client_error = error_for_status(404)
    assert type(client_error) is ClientError and client_error.status == 404


@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("  ", None), ("120", 120.0), (" 7 ", 7.0), ("1.5", 1.5),
    ("-5", None), ("soon", None), ("0", 0.0),
    (formatdate(NOW + 90, usegmt=True), 90.0),
    (formatdate(NOW - 90, usegmt=True), 0.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ("Thu, 31 Feb 2099 25:00:00 GMT", None),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_tier_names() -> None:
    assert [tier_name(d) for d in (5, 300, 1800, 7200, 18000, 36000)] == \
        ["5s", "5m", "30m", "2h", "5h", "10h"]
    assert [tier_name(d) for d in (90, 0.5, 5400)] == ["90s", "0.5s", "90m"]
    assert RetrySchedule().tiers == ("5s", "5m", "30m", "2h", "5h", "10h")


def test_tier_for() -> None:
    tiers = RetrySchedule().tier_delays_s
    assert tier_for(1, tiers) == "5s"
    assert tier_for(5, tiers) == "5s"
    assert tier_for(299, tiers) == "5s"
    assert tier_for(300, tiers) == "5m"
    assert tier_for(4000, tiers) == "30m"
    assert tier_for(10**9, tiers) == "10h"
    with pytest.raises(ValueError):
        tier_for(5, [])


def test_schedule_tier_for_keeps_jittered_delays_in_their_own_tier() -> None:
    schedule = RetrySchedule()
    rng = random.Random(3)
    for attempt, tier in enumerate(["5s", "5m", "30m", "2h", "5h", "10h", "10h"], start=1):
        for _ in range(200):
            delay = schedule.delay_for(attempt, None, rng)
            assert delay is not None and schedule.tier_for(delay) == tier
