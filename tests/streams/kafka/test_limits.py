"""Record sizes, size checks and truncated copies (streams.kafka.limits)."""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaException, Producer

from schemas.validation import InvalidRecord, parse_profile
from streams.kafka.limits import (ORIGINAL_KEY_BYTES, ORIGINAL_VALUE_BYTES, TRUNCATED,
                                  check_size, record_size, sized, truncated_copy)

LIMIT = 100_000


def _librdkafka_accepts(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]],
                        limit: int) -> bool:
    """librdkafka checks the record size when produce() is called, before any broker is
    involved; a producer pointing nowhere answers the question."""
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": limit})
    try:
        producer.produce("t", value, key, headers=headers or None)
        return True
    except KafkaException as exc:
        assert exc.args[0].name() == "MSG_SIZE_TOO_LARGE"
        return False
    finally:
        producer.purge()


@pytest.mark.parametrize("key, headers", [
    (None, []),
    (b"k" * 40, []),
    (b"profile-7", [("fl-reason", b"x" * 300), ("fl-source-topic", b"fl.raw.opens")]),
    (b"p", [(f"h{i}", b"v" * 10) for i in range(30)]),
])
def test_what_record_size_passes_librdkafka_accepts(key: bytes | None,
                                                    headers: list[tuple[str, bytes]]) -> None:
    # the largest value our check lets through is accepted by librdkafka at the same limit
    room = LIMIT - record_size(key, b"", headers)
    assert record_size(key, b"v" * room, headers) == LIMIT
    assert _librdkafka_accepts(key, b"v" * room, headers, LIMIT)
    # and the bound is close: librdkafka refuses a little more (it needs at most our overhead)
    assert not _librdkafka_accepts(key, b"v" * (room + 200 + 16 * len(headers)), headers, LIMIT)


def test_record_size_counts_text_as_utf8() -> None:
    assert record_size("é", b"ab", [("ä", "ö")]) - record_size(None, None) == 2 + 2 + 2 + 2 + 16


def test_check_size_names_the_setting_and_field() -> None:
    check_size(b"x" * 10, 10, "the raw event", "limits.raw_event_bytes")
    with pytest.raises(InvalidRecord) as err:
        check_size(b"x" * 11, 10, "the raw event", "limits.raw_event_bytes", "fields")
    assert err.value.reason == ("the raw event is 11 bytes, over the 10-byte limit "
                                "(limits.raw_event_bytes)")
    assert err.value.field == "fields"


def test_sized_refuses_before_parsing() -> None:
    parse = sized(parse_profile, 60, "the profile", "limits.profile_bytes")
    assert parse(b'{"id": "p1", "database": "d", "fields": {}}')["id"] == "p1"
    with pytest.raises(InvalidRecord, match=r"the profile is 71 bytes, over the 60-byte limit "
                                            r"\(limits.profile_bytes\)"):
        parse(b'{"id": "p1", "database": "d", "fields": {"a": "' + b"x" * 21 + b'"}}')


def test_a_record_that_fits_is_kept_whole() -> None:
    headers = [("fl-reason", b"bad")]
    copy = truncated_copy(b"k", b"v" * 500, headers, 1000)
    assert copy == (b"k", b"v" * 500, headers, False)


def test_a_large_value_is_cut_to_a_prefix_and_marked() -> None:
    value = bytes(range(256)) * 20_000  # 5,120,000 bytes
    headers = [("fl-reason", b"too big"), ("fl-source-offset", b"17")]
    copy = truncated_copy(b"profile-1", value, headers, LIMIT)
    assert copy.truncated and copy.key == b"profile-1"
    assert record_size(copy.key, copy.value, copy.headers) <= LIMIT
    assert copy.value is not None and value.startswith(copy.value)
    assert len(copy.value) > LIMIT - 1000  # as much as fits is kept
    marks = dict(copy.headers)
    assert marks[TRUNCATED] == b"value"
    assert marks[ORIGINAL_VALUE_BYTES] == b"5120000"
    assert ORIGINAL_KEY_BYTES not in marks
    assert copy.headers[:2] == headers  # the reason and coordinates stay first, unchanged


def test_a_huge_key_is_cut_too() -> None:
    copy = truncated_copy(b"k" * 300_000, b"v" * 300_000, [("fl-reason", b"r")], LIMIT)
    assert record_size(copy.key, copy.value, copy.headers) <= LIMIT
    assert copy.key == b"k" * 1024
    marks = dict(copy.headers)
    assert marks[TRUNCATED] == b"key,value"
    assert marks[ORIGINAL_KEY_BYTES] == b"300000" and marks[ORIGINAL_VALUE_BYTES] == b"300000"
    assert copy.value is not None and len(copy.value) > LIMIT - 2000


def test_a_large_key_with_a_small_value_keeps_the_value_whole() -> None:
    copy = truncated_copy(b"k" * 200_000, b"small", None, LIMIT)
    assert copy.value == b"small" and copy.key == b"k" * 1024
    assert dict(copy.headers)[TRUNCATED] == b"key,value"


def test_headers_that_leave_no_room_are_cut_to_a_kib_each() -> None:
    headers = [("fl-reason", b"r" * 5000), ("other", b"o" * 5000)]
    copy = truncated_copy(b"k", b"v" * 5000, headers, 4096)
    assert record_size(copy.key, copy.value, copy.headers) <= 4096
    assert dict(copy.headers)["fl-reason"] == b"r" * 1024
    assert dict(copy.headers)["other"] == b"o" * 1024


def test_a_tombstone_stays_a_tombstone() -> None:
    copy = truncated_copy(b"k" * 10_000, None, None, 4096)
    assert copy.value is None and copy.key is not None and len(copy.key) <= 1024


def test_under_a_tiny_limit_only_the_headers_that_fit_are_kept() -> None:
    headers = [("fl-reason", b"r" * 900), ("fl-source-offset", b"7"), ("big", b"b" * 900)]
    copy = truncated_copy(b"key", b"v" * 5000, headers, 1500)
    assert record_size(copy.key, copy.value, copy.headers) <= 1500
    names = [name for name, _ in copy.headers]
    assert names[:2] == ["fl-reason", "fl-source-offset"] and "big" not in names
    assert TRUNCATED in names and ORIGINAL_VALUE_BYTES in names
