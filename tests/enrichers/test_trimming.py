"""An oversize payload loses its largest profile fields, and names them (enrichers.trimming)."""
from __future__ import annotations

from typing import Any

import orjson

from enrichers.trimming import OMITTED, omit_largest_fields, payload_bytes


def payload(**fields: Any) -> dict[str, Any]:
    return {"id": "m1", "event_id": "e1", "type": "open", "email": "a@example.org",
            "fields": fields, "tags": ["t"], "profile_known": True}


def test_a_payload_that_fits_is_returned_unchanged() -> None:
    p = payload(a="x" * 100)
    out = omit_largest_fields(p, payload_bytes(p))
    assert out == p and OMITTED not in out
    assert out is not p  # a copy: the caller may change it


def test_the_fewest_largest_fields_go_largest_first() -> None:
    p = payload(small="s", big="b" * 5000, bigger="B" * 8000, middle="m" * 3000)
    out = omit_largest_fields(p, payload_bytes(p) - 6000)
    assert out is not None
    assert out[OMITTED] == ["bigger"]
    assert out["fields"] == {"small": "s", "big": "b" * 5000, "middle": "m" * 3000}
    out = omit_largest_fields(p, payload_bytes(p) - 10_000)
    assert out is not None and out[OMITTED] == ["bigger", "big"]
    assert out["email"] == "a@example.org" and out["tags"] == ["t"]


def test_the_result_is_as_large_as_the_limit_allows() -> None:
    p = payload(**{f"f{i:02d}": "v" * (100 + i) for i in range(50)})
    for limit in range(payload_bytes(p) - 3000, payload_bytes(p), 97):
        out = omit_largest_fields(p, limit)
        assert out is not None
        assert payload_bytes(out) <= limit
        # keeping the last omitted field back in would be over the limit
        last = out[OMITTED][-1]
        back = {**out, "fields": {**out["fields"], last: p["fields"][last]},
                OMITTED: out[OMITTED][:-1]}
        if not back[OMITTED]:
            del back[OMITTED]
        assert payload_bytes(back) > limit


def test_equal_sizes_go_by_name_so_the_result_is_deterministic() -> None:
    p = payload(b="x" * 1000, a="y" * 1000, c="z" * 1000)
    out = omit_largest_fields(p, payload_bytes(p) - 1500)
    assert out is not None and out[OMITTED] == ["a", "b"]


def test_non_ascii_and_escaped_values_are_measured_as_sent() -> None:
    p = payload(text="é" * 3000, quoted='"' * 2000, plain="p")
    limit = payload_bytes(p) - 4000
    out = omit_largest_fields(p, limit)
    assert out is not None and payload_bytes(out) <= limit
    assert out[OMITTED] == ["text"]  # 6,000 bytes of UTF-8 vs 4,000 of escapes
    assert len(orjson.dumps(out)) == payload_bytes(out)


def test_none_when_even_no_fields_are_too_much() -> None:
    p = payload(a="x" * 100)
    p["tags"] = ["t" * 200] * 20
    assert omit_largest_fields(p, 1000) is None
    assert omit_largest_fields({"id": "x" * 2000}, 1000) is None  # no fields at all
