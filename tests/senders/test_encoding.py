"""Bodies per loop encoding; the form output parses back to what a PHP receiver expects."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from senders.encoding import encode, encode_form, form_pairs
from senders.errors import EncodingError

EVENT: dict[str, Any] = {
    "id": "m-1", "type": "open", "timestamp": "2026-11-26 10:00:00", "time": 1795687200,
    "recipient": "a@b.c", "email": "a@b.c",
    "fields": {"firstname": "Anna", "city": "Köln", "score": 7.5, "vip": True, "newsletter": False,
               "middle": None, "address": {"street": "Ring 1", "geo": {"lat": "50.9"}}},
    "interests": ["golf", "ski & sun"], "tags": ["newsletter", "nov"],
    "headers": {"User-Agent": "Mozilla/5.0 (X11)"},
    "links": [{"url": "https://x.example/?a=1&b=2", "tags": ["t1"]}, {"url": "https://y.example/"}],
    "empty": [], "nothing": None, "event_id": "e-1",
}


def test_json_one_object() -> None:
    body, content_type = encode("json", [EVENT])
    assert content_type == "application/json"
    assert orjson.loads(body) == EVENT
    assert "Köln".encode() in body  # UTF-8, not \\u escapes


def test_json_batch_array() -> None:
    body, content_type = encode("json-batch", [EVENT, {"id": "m-2"}])
    assert content_type == "application/json"
    assert orjson.loads(body) == [EVENT, {"id": "m-2"}]
    assert orjson.loads(encode("json-batch", ({"id": 1},))[0]) == [{"id": 1}]


def test_form_copernica_style() -> None:
    body, content_type = encode("form", [EVENT])
    assert content_type == "application/x-www-form-urlencoded"
    text = body.decode("ascii")
    assert "fields[firstname]=Anna" in text
    assert "fields[city]=K%C3%B6ln" in text
    assert "interests[]=golf&interests[]=ski+%26+sun" in text
    assert "fields[address][geo][lat]=50.9" in text
    assert "headers[User-Agent]=Mozilla%2F5.0+%28X11%29" in text


def test_form_round_trip() -> None:
    pairs = parse_qsl(encode_form(EVENT).decode("ascii"), keep_blank_values=True, strict_parsing=True)
    assert pairs == [
        ("id", "m-1"), ("type", "open"), ("timestamp", "2026-11-26 10:00:00"),
        ("time", "1795687200"), ("recipient", "a@b.c"), ("email", "a@b.c"),
        ("fields[firstname]", "Anna"), ("fields[city]", "Köln"), ("fields[score]", "7.5"),
        ("fields[vip]", "1"), ("fields[newsletter]", "0"),
        ("fields[address][street]", "Ring 1"), ("fields[address][geo][lat]", "50.9"),
        ("interests[]", "golf"), ("interests[]", "ski & sun"),
        ("tags[]", "newsletter"), ("tags[]", "nov"),
        ("headers[User-Agent]", "Mozilla/5.0 (X11)"),
        ("links[0][url]", "https://x.example/?a=1&b=2"), ("links[0][tags][]", "t1"),
        ("links[1][url]", "https://y.example/"),
        ("event_id", "e-1"),
    ]
    assert form_pairs(EVENT) == pairs


def test_form_names_with_brackets_cannot_fake_nesting() -> None:
    body = encode_form({"fields": {"a[b]": "x", "c=d&e": "y"}}).decode("ascii")
    assert body == "fields[a%5Bb%5D]=x&fields[c%3Dd%26e]=y"
    assert parse_qsl(body) == [("fields[a[b]]", "x"), ("fields[c=d&e]", "y")]


def test_form_mixed_list_is_indexed() -> None:
    assert form_pairs({"l": ["a", {"b": 1}, [2, 3], True]}) == [
        ("l[0]", "a"), ("l[1][b]", "1"), ("l[2][]", "2"), ("l[2][]", "3"), ("l[3]", "1")]


def test_empty_payload_and_empty_collections() -> None:
    assert encode("form", [{}]) == (b"", "application/x-www-form-urlencoded")
    assert encode_form({"a": [], "b": {}, "c": None, "d": ""}) == b"d="


@pytest.mark.parametrize("encoding, payloads, message", [
    ("json", [], "exactly one payload"),
    ("json", [{}, {}], "exactly one payload"),
    ("form", [{}, {}], "exactly one payload"),
    ("json-batch", [], "at least one"),
    ("xml", [{}], "unknown encoding 'xml'"),
    ("json", [{"when": object()}], "cannot encode as JSON"),
    ("form", [{"fields": {"blob": b"\x00"}}], "fields[blob]: cannot form-encode a bytes"),
])
def test_errors(encoding: str, payloads: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(EncodingError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        encode(encoding, payloads)
    assert not info.value.retryable


def test_non_string_keys_are_their_str() -> None:
    assert encode_form({"f": {2: "a", 3.5: "b"}}) == b"f[2]=a&f[3.5]=b"
