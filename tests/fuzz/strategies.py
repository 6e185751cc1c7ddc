"""Inputs for the fuzzers: arbitrary JSON, and valid documents with one thing broken."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st


def dumps(doc: Any) -> bytes:
    """JSON bytes as any producer may write them: the standard library's encoder, which also
    writes integers beyond 64 bits (orjson would refuse to)."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")

#: JSON scalars, including the awkward ones: huge and negative numbers, empty and odd strings
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40), st.sampled_from(["", " ", "\x00", "ö", "\ud7ff", "9" * 400,
                                           "2026-12-04T10:00:00Z", "not-a-date", "open",
                                           "http://127.0.0.1/x", "whsec_AAAA"]))

json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.text(max_size=12), children, max_size=5)),
    max_leaves=25)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three changes: a key dropped, a value replaced by any JSON, an
    unknown key added, or a nested value broken."""
    doc = dict(base)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["drop", "replace", "add", "nested"]))
        keys = sorted(doc)
        if action == "drop" and keys:
            doc.pop(draw(st.sampled_from(keys)))
        elif action == "replace" and keys:
            doc[draw(st.sampled_from(keys))] = draw(json_values)
        elif action == "add":
            doc[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
        elif keys:
            key = draw(st.sampled_from(keys))
            if isinstance(doc[key], dict) and doc[key]:
                inner = dict(doc[key])
                inner[draw(st.sampled_from(sorted(inner)))] = draw(json_values)
                doc[key] = inner
    return doc
