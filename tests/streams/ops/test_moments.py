"""Times as operators type them: one parser for the CLI and the API."""
from __future__ import annotations

import pytest

from streams.ops.moments import MomentError, parse_moment

NOW = 1_800_000_000_000


@pytest.mark.parametrize("text, expected", [
    ("6h", NOW - 6 * 3_600_000), ("2d", NOW - 2 * 86_400_000), ("90m", NOW - 5_400_000),
    ("30s", NOW - 30_000), ("1w", NOW - 7 * 86_400_000), ("now", NOW),
    ("2026-11-26T10:00:00Z", 1795687200000), ("2026-11-26T11:00:00+01:00", 1795687200000),
    ("2026-11-26T10:00:00", 1795687200000),  # no zone: UTC, not the server's zone
    ("2026-11-26", 1795651200000), ("1795687200000", 1795687200000),
])
def test_forms(text: str, expected: int) -> None:
    assert parse_moment(text, NOW) == expected


def test_integers_are_unix_ms() -> None:
    assert parse_moment(1795687200000, NOW) == 1795687200000


@pytest.mark.parametrize("bad", ["yesterday", "6 hours", "-5", "2026-13-01", "", True, -1])
def test_refusals_say_what_is_accepted(bad: object) -> None:
    with pytest.raises(MomentError):
        parse_moment(bad, NOW)  # type: ignore[arg-type]
