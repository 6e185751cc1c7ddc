"""Record sizes as Kafka counts them, checks against ``limits.*``, and truncated copies.

Pure functions, no client: :func:`record_size` is an upper bound of what librdkafka
(``message.max.bytes``) and aiokafka (``max_request_size``) compare with their limit — key,
value, headers and the record's framing, all uncompressed (both clients check before
compressing; the broker checks the compressed batch). :func:`truncated_copy` makes a record fit
a limit by keeping a prefix of its value (and, if it must, of its key) and saying so in headers:

- ``fl-truncated``: what was cut, ``value`` or ``key,value``;
- ``fl-original-value-bytes`` (and ``fl-original-key-bytes`` when the key was cut): the sizes
  before, so an operator knows what the source record held.

With the ``fl-source-topic/partition/offset`` headers an ``fl.invalid`` record already has,
the original can be read back from its source topic while retention keeps it
(:func:`streams.ops.invalid.replay` does that for truncated copies).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from schemas.validation import InvalidRecord

__all__ = ["HEADER_OVERHEAD_BYTES", "ORIGINAL_KEY_BYTES", "ORIGINAL_VALUE_BYTES", "Header",
           "RECORD_OVERHEAD_BYTES", "TRUNCATED", "Copy", "check_size", "record_size",
           "sized", "truncated_copy"]

#: framing of one record, beyond key, value and headers: over librdkafka's 36 bytes and
#: aiokafka's 82 plus varints, so a record this module passes is never refused by either
RECORD_OVERHEAD_BYTES = 128
#: framing of one header beyond its name and value (two varint lengths, generously)
HEADER_OVERHEAD_BYTES = 16
#: a key cut to make room is kept to this many bytes (keys are ids; one this long is junk)
KEPT_KEY_BYTES = 1024
#: a header value cut to make room (only when the headers alone would not fit) keeps this much
KEPT_HEADER_BYTES = 1024

TRUNCATED = "fl-truncated"
ORIGINAL_VALUE_BYTES = "fl-original-value-bytes"
ORIGINAL_KEY_BYTES = "fl-original-key-bytes"

Header = tuple[str, bytes | str]


class Copy(NamedTuple):
    """A record that fits: key, value, headers (the truncation marks added when cut)."""

    key: bytes | None
    value: bytes | None
    headers: list[Header]
    truncated: bool


def record_size(key: bytes | str | None, value: bytes | None,
                headers: Sequence[Header] | None = None) -> int:
    """Bytes the record counts for against a client's record limit (an upper bound)."""
    size = RECORD_OVERHEAD_BYTES + _len(key) + _len(value)
    if headers:
        for name, data in headers:
            size += HEADER_OVERHEAD_BYTES + len(name.encode()) + _len(data)
    return size


def check_size(value: bytes, max_bytes: int, what: str, setting: str,
               field: str | None = None) -> None:
    """Raise ``InvalidRecord`` (a reason naming the setting, and ``field``) when ``value`` is
    over ``max_bytes``."""
    if len(value) > max_bytes:
        raise InvalidRecord(f"{what} is {len(value)} bytes, over the {max_bytes}-byte limit "
                            f"({setting})", field)


def sized(parse: Callable[..., dict[str, Any]], max_bytes: int, what: str,
          setting: str) -> Callable[[bytes], dict[str, Any]]:
    """``parse`` (a ``schemas.validation`` parser) that first refuses data over ``max_bytes``
    with :func:`check_size`'s reason: what the loaders and the tags view use."""
    def checked(data: bytes) -> dict[str, Any]:
        check_size(data, max_bytes, what, setting)
        return parse(data, max_bytes=max_bytes)

    return checked


def truncated_copy(key: bytes | str | None, value: bytes | None,
                   headers: Sequence[Header] | None, max_bytes: int) -> Copy:
    """The record itself when it fits ``max_bytes``; else a copy whose value (then key) is cut
    to a prefix so that it fits, marked with the ``fl-truncated`` headers. Headers are kept
    whole unless they alone leave no room (then each value keeps its first KiB, and under a
    limit of a few KiB only the headers that still fit are kept, in order; the marks always
    are, so ``max_bytes`` must leave them some 250 bytes).
    """
    kept_headers = list(headers or ())
    raw_key = key.encode() if isinstance(key, str) else key
    if record_size(raw_key, value, kept_headers) <= max_bytes:
        return Copy(raw_key, value, kept_headers, False)
    key_bytes, value_bytes = _len(raw_key), _len(value)
    marks: list[Header] = [(TRUNCATED, b"key,value"),
                           (ORIGINAL_VALUE_BYTES, str(value_bytes).encode()),
                           (ORIGINAL_KEY_BYTES, str(key_bytes).encode())]
    room = max_bytes - record_size(None, None, kept_headers + marks)
    if room < KEPT_KEY_BYTES:
        kept_headers = [(name, _cut(data, KEPT_HEADER_BYTES)) for name, data in kept_headers]
        room = max_bytes - record_size(None, None, kept_headers + marks)
    if room < 0:
        fitting: list[Header] = []
        for header in kept_headers:
            if record_size(None, None, [*fitting, header, *marks]) <= max_bytes:
                fitting.append(header)
        kept_headers = fitting
        room = max(0, max_bytes - record_size(None, None, kept_headers + marks))
    new_key = raw_key
    if key_bytes > room or (key_bytes > KEPT_KEY_BYTES and key_bytes + value_bytes > room):
        new_key = raw_key[:min(KEPT_KEY_BYTES, room)] if raw_key is not None else None
    new_value = value[:max(0, room - _len(new_key))] if value is not None else None
    cut = "key,value" if _len(new_key) < key_bytes else "value"
    marks = [(TRUNCATED, cut.encode()), marks[1]] + ([marks[2]] if cut == "key,value" else [])
    return Copy(new_key, new_value, kept_headers + marks, True)


def _len(data: bytes | str | None) -> int:
    if data is None:
        return 0
    return len(data.encode()) if isinstance(data, str) else len(data)


def _cut(data: bytes | str, limit: int) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return raw[:limit]
