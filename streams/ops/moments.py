"""Moments in time as operators type them: ISO 8601 or an age (``90m``, ``6h``, ``2d``).

One parser for every door (CLI options, API bodies), so ``--since 6h`` means the same on the
command line and in ``POST /replays``. A time without a zone is UTC (a server's local zone is
nobody's intent); a bare integer is Unix milliseconds.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from streams.errors import InputError

__all__ = ["MomentError", "parse_moment"]

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class MomentError(InputError):
    """Text that is neither ISO 8601, nor an age, nor Unix milliseconds."""

    def __init__(self, problem: str) -> None:
        super().__init__(None, problem)


def parse_moment(value: str | int, now_ms: int | None = None) -> int:
    """``value`` as Unix milliseconds: ISO 8601 (``2026-11-26T10:00:00Z``, ``2026-11-26``;
    no zone = UTC), an age before ``now_ms`` (default: now) such as ``90m``, ``6h``, ``2d``,
    ``1w``, or ``now``, or an integer (Unix ms)."""
    if isinstance(value, bool):
        raise MomentError(f"{value!r} is not a time")
    if isinstance(value, int):
        if value < 0:
            raise MomentError(f"{value} is before 1970")
        return value
    text = value.strip()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if text == "now":
        return now
    if text.isdigit():
        return int(text)
    age = _AGE.fullmatch(text)
    if age is not None:
        return now - int(float(age.group(1)) * _UNIT_S[age.group(2)] * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise MomentError(f"{value!r} is neither ISO 8601 (2026-11-26T10:00:00Z) nor an age "
                          "like 90m, 6h, 2d") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
