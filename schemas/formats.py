"""The string formats the contracts use, checked for real.

fastjsonschema's built-in format regexes are loose (``date-time`` accepts month 13, ``email``
demands a dot in the domain), so the validators are compiled with these checkers instead. The
names are the standard JSON Schema ones, so any other validator reads the same schema files.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import Final

__all__ = ["FORMATS", "FORMAT_NAMES", "is_rfc3339", "is_uuid", "parse_rfc3339"]

# RFC 3339 section 5.6 (date-time), with lower-case t/z and a space separator allowed as the RFC
# notes permit. The regex fixes the shape; datetime() then rejects 2026-02-30 and friends.
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z", re.ASCII)
# Deliberately permissive: one @, no whitespace, something on both sides. Deliverability is the
# mailer's business; this only catches values that are clearly not an address.
_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# Dotted quad without leading zeros, as ipaddress.IPv4Address accepts it, but ~7x cheaper.
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}\Z", re.ASCII)
_DAYS_IN_MONTH: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware ``datetime``.

    Accepts exactly what ``is_rfc3339`` accepts. Fractions beyond microseconds are truncated; a
    leap second (``:60``) becomes ``:59``. Raises ``ValueError`` for anything else.
    """
    match = _valid_match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    text = f"{year}-{month}-{day}T{hour}:{minute}:{min(int(second), 59):02d}"
    if fraction:
        text += fraction[:7]
    text += "+00:00" if offset in ("Z", "z") else offset
    return datetime.fromisoformat(text)


def is_rfc3339(value: str) -> bool:
    """True when ``value`` is a real RFC 3339 date-time (shape and calendar)."""
    return _valid_match(value) is not None


_last_match: tuple[str, re.Match[str] | None] = ("", None)


def _valid_match(value: str) -> re.Match[str] | None:
    # Runs per event on the hot path, so the calendar is checked by hand rather than by building
    # a datetime only to throw it away. The last answer is kept: validating a raw event checks
    # its occurred_at, and enriching it parses the same string right after.
    global _last_match
    last, answer = _last_match
    if value == last and type(value) is str:
        return answer
    answer = _checked(value)
    _last_match = (value, answer)
    return answer


def _checked(value: str) -> re.Match[str] | None:
    match = _RFC3339.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, _, offset = match.groups()
    m, d = int(month), int(day)
    if year == "0000" or not (1 <= m <= 12 and 1 <= d <= _DAYS_IN_MONTH[m]):
        return None
    if m == 2 and d == 29 and not _is_leap(int(year)):
        return None
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return None
    if len(offset) > 1 and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return None
    return match


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def is_uuid(value: str) -> bool:
    """True when ``value`` is a UUID in canonical 8-4-4-4-12 hex form."""
    return _UUID.match(value) is not None


def _is_email(value: str) -> bool:
    return _EMAIL.match(value) is not None


def _is_ipv4(value: str) -> bool:
    return _IPV4.match(value) is not None


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "date-time": is_rfc3339,
    "email": _is_email,
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
}
"""Format name -> checker, passed to ``fastjsonschema.compile(formats=...)``.

``uuid`` is not here: draft-07 does not define it, so the schemas pair it with a ``pattern`` that
every validator enforces (``is_uuid`` checks the same for code that needs it)."""

FORMAT_NAMES: Final[dict[str, str]] = {
    "date-time": "an RFC 3339 date-time",
    "uuid": "a UUID",
    "email": "an e-mail address",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
}
"""Format name -> how a rejection reason describes it."""
