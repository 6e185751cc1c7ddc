"""schemas.formats: the format checkers are strict where fastjsonschema's regexes are loose."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from schemas.formats import FORMAT_NAMES, FORMATS, is_rfc3339, is_uuid, parse_rfc3339

GOOD_TIMES = {
    "2026-11-26T10:00:00Z": datetime(2026, 11, 26, 10, tzinfo=timezone.utc),
    "2026-11-26t10:00:00z": datetime(2026, 11, 26, 10, tzinfo=timezone.utc),
    "2026-11-26 10:00:00Z": datetime(2026, 11, 26, 10, tzinfo=timezone.utc),
    "2026-11-26T11:00:00.5+01:00":
        datetime(2026, 11, 26, 11, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1))),
    "2026-11-26T10:00:00.123456789-00:30":
        datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=timezone(-timedelta(minutes=30))),
    "2024-02-29T00:00:00Z": datetime(2024, 2, 29, tzinfo=timezone.utc),
    "2026-12-31T23:59:60Z": datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
}
BAD_TIMES = ["2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-29T00:00:00Z",
             "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-26T24:00:00Z",
             "2026-11-26T10:60:00Z", "2026-11-26T10:00:61Z", "2026-11-26T10:00:00+24:00",
             "2026-11-26T10:00:00", "2026-11-26", "26-11-2026T10:00:00Z", "",
             "2026-11-26T10:00:00Z ", "2026-11-26T10:00:00Z\n", "0000-01-01T00:00:00Z",
             "２０２６-11-26T10:00:00Z", "2026-11-26T10:00:00.Z"]


@pytest.mark.parametrize("text", sorted(GOOD_TIMES))
def test_good_date_times(text: str) -> None:
    assert is_rfc3339(text)
    assert parse_rfc3339(text) == GOOD_TIMES[text]


@pytest.mark.parametrize("text", BAD_TIMES)
def test_bad_date_times(text: str) -> None:
    assert not is_rfc3339(text)
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_each_answer_is_for_the_value_asked_one_after_the_other() -> None:
    # the check keeps its last answer (validation, then enrich, ask about the same string)
    order = [t for pair in zip(sorted(GOOD_TIMES), BAD_TIMES) for t in pair] * 2
    for text in order:
        assert is_rfc3339(text) == (text in GOOD_TIMES)
        assert is_rfc3339(text) == (text in GOOD_TIMES)  # asked again: the kept answer
        if text in GOOD_TIMES:
            assert parse_rfc3339(text) == GOOD_TIMES[text]


def test_uuid() -> None:
    assert is_uuid("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert is_uuid("1B4E28BA-2FA1-11D2-883F-0016D3CCA427")
    for bad in ("1b4e28ba2fa111d2883f0016d3cca427", "1b4e28ba-2fa1-11d2-883f-0016d3cca42",
                "1b4e28ba-2fa1-11d2-883f-0016d3cca427\n", "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}"):
        assert not is_uuid(bad)


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("email", ["a@b", "daan.visser3@example.org", "x+tag@sub.example.co.uk"],
     ["", "a", "@b", "a@", "a b@c", "a@b@c", "a@b\n"]),
    ("ipv4", ["0.0.0.0", "198.51.100.7", "255.255.255.255"],
     ["256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.4\n", "::1"]),
    ("ipv6", ["::1", "2001:db8::25", "::ffff:192.0.2.1", "fe80::1"],
     ["1.2.3.4", ":::", "2001:db8::g", ""]),
])
def test_address_formats(name: str, good: list[str], bad: list[str]) -> None:
    check = FORMATS[name]
    assert all(check(value) for value in good)
    assert not any(check(value) for value in bad)


def test_every_checked_format_has_a_name_for_reasons() -> None:
    assert set(FORMATS) <= set(FORMAT_NAMES)
