"""The retry policy as data: which answers retry, how long to wait, which delay tier to use.

Rule for Retry-After (``delay_for``): the wait is the jittered schedule delay, lengthened to the
server's Retry-After when that is longer, but never beyond ``max_retry_after_s`` (10 h by
default). So ``Retry-After: 0`` cannot make us hammer a struggling endpoint (the schedule is a
floor), and ``Retry-After: 1 year`` cannot park an event forever (the cap is a ceiling). Each
honoured Retry-After still uses up one attempt.
"""
from __future__ import annotations

import email.utils
from datetime import timezone
import math
import random
import re
from dataclasses import dataclass
from typing import Literal, Sequence

from .errors import (
    ClientError,
    DeliveryError,
    GoneError,
    RedirectRefused,
    RetryableStatus,
    ServerError,
    TooManyRequests,
)

__all__ = [
    "DEFAULT_DELAYS_S",
    "RetrySchedule",
    "StatusClass",
    "classify_status",
    "error_for_status",
    "parse_retry_after",
    "tier_for",
    "tier_name",
]

StatusClass = Literal["ok", "retry", "permanent", "gone"]
#: 5s, 5m, 30m, 2h, 5h, 10h, 10h: seven retries over about 27.6 h.
DEFAULT_DELAYS_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
_RETRY_STATUSES = frozenset({408, 425, 429})
_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Delays between attempts (``delays_s[i]`` follows attempt ``i + 1``), multiplied by a
    uniform factor in ``[1 - jitter, 1 + jitter]``. ``max_age_s`` (None: no limit) gives up once
    the next attempt would come later than that many seconds after the first one."""

    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S
    jitter: float = 0.2
    max_retry_after_s: float = 36000.0
    max_age_s: float | None = None

    def __post_init__(self) -> None:
        if any(not (math.isfinite(d) and d > 0) for d in self.delays_s):
            raise ValueError(f"delays_s: every delay must be a positive number, got {self.delays_s}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter: must be in [0, 1), got {self.jitter:g}")
        if not self.max_retry_after_s > 0:
            raise ValueError(f"max_retry_after_s: must be > 0, got {self.max_retry_after_s:g}")
        if self.max_age_s is not None and not self.max_age_s > 0:
            raise ValueError(f"max_age_s: must be > 0 or None, got {self.max_age_s:g}")

    @property
    def max_attempts(self) -> int:
        """Attempts in total: the first one plus one per delay."""
        return len(self.delays_s) + 1

    def delay_for(self, attempt: int, retry_after_s: float | None, rng: random.Random, *,
                  age_s: float = 0.0) -> float | None:
        """Seconds to wait after ``attempt`` (attempts made so far, 1-based) failed, or None
        when the schedule is exhausted or the wait would take the delivery past ``max_age_s``
        (``age_s``: seconds since the first attempt). Retry-After rule: module docstring."""
        if attempt < 1:
            raise ValueError(f"attempt: counts attempts made so far, from 1; got {attempt}")
        if attempt > len(self.delays_s):
            return None
        delay_s = self.delays_s[attempt - 1]
        if self.jitter:
            delay_s *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        if retry_after_s is not None and retry_after_s > delay_s:
            delay_s = max(delay_s, min(retry_after_s, self.max_retry_after_s))
        if self.max_age_s is not None and age_s + delay_s > self.max_age_s:
            return None
        return delay_s

    @property
    def tier_delays_s(self) -> tuple[float, ...]:
        """The distinct nominal delays, shortest first: one retry topic each."""
        return tuple(sorted(set(self.delays_s)))

    @property
    def tiers(self) -> tuple[str, ...]:
        """Names of the retry tiers (``5s``, ``5m``, ...), shortest first."""
        return tuple(tier_name(d) for d in self.tier_delays_s)

    def tier_for(self, delay_s: float) -> str:
        """The tier for a delay this schedule produced: like :func:`tier_for`, but a delay
        jittered below its nominal value still lands in its own tier."""
        return tier_for(delay_s, self.tier_delays_s, tolerance=self.jitter)


def tier_name(delay_s: float) -> str:
    """``5`` -> ``5s``, ``300`` -> ``5m``, ``7200`` -> ``2h``; odd values keep seconds (``90s``)."""
    if delay_s >= 3600 and delay_s % 3600 == 0:
        return f"{int(delay_s // 3600)}h"
    if delay_s >= 60 and delay_s % 60 == 0:
        return f"{int(delay_s // 60)}m"
    return f"{delay_s:g}s"


def tier_for(delay_s: float, tiers: Sequence[float], tolerance: float = 0.0) -> str:
    """Name of the largest tier whose nominal delay (times ``1 - tolerance``) is <= ``delay_s``;
    the smallest tier when ``delay_s`` is below all. ``tiers`` are nominal delays in seconds."""
    if not tiers:
        raise ValueError("tiers: name at least one tier delay")
    ordered = sorted(tiers)
    chosen = ordered[0]
    for tier_s in ordered:
        if tier_s * (1.0 - tolerance) <= delay_s:
            chosen = tier_s
    return tier_name(chosen)


def classify_status(status: int) -> StatusClass:
    """2xx ok; 408, 425, 429 and 5xx retry; 410 gone; anything else (1xx, 3xx, other 4xx)
    permanent."""
    if 200 <= status < 300:
        return "ok"
    if 500 <= status < 600 or status in _RETRY_STATUSES:
        return "retry"
    if status == 410:
        return "gone"
    return "permanent"


def error_for_status(status: int, retry_after_s: float | None = None,
                     location: str | None = None) -> DeliveryError | None:
    """The DeliveryError an answer with ``status`` stands for (None for 2xx)."""
    kind = classify_status(status)
    if kind == "ok":
        return None
    if kind == "retry":
        if status == 429:
            return TooManyRequests(status, retry_after_s)
        if status >= 500:
            return ServerError(status, retry_after_s)
        return RetryableStatus(status, retry_after_s)
    if kind == "gone":
        return GoneError(status)
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return RedirectRefused(f"HTTP {status}: redirect{where} not followed", status, location)
    return ClientError(status)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (compared with
    ``now``, Unix seconds; a past date gives 0). None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)
