"""A replay request's shape is checked before anything touches Kafka; each problem names its
field."""
from __future__ import annotations

from typing import Any

import pytest

from streams.api.inputs import InputError
from streams.replay.requests import parse_body

NOW = 1_800_000_000_000


def test_a_full_body() -> None:
    checked = parse_body({"loop": "lp", "since": "2h", "until": "1h", "types": ["click", "open"],
                          "database": "db", "rate_per_s": 50, "new_ids": True}, NOW)
    assert checked == {"loop_id": "lp", "since_ms": NOW - 7_200_000, "until_ms": NOW - 3_600_000,
                       "types": ["click", "open"], "database": "db", "collection": None,
                       "rate_per_s": 50, "new_ids": True, "dry_run": False}


def test_until_defaults_to_now() -> None:
    assert parse_body({"loop": "lp", "since": "10m"}, NOW)["until_ms"] == NOW


@pytest.mark.parametrize("body, field", [
    ({"since": "1h"}, "loop"),
    ({"loop": "lp"}, "since"),
    ({"loop": "lp", "since": "1h", "until": "2h"}, "until"),
    ({"loop": "lp", "since": "soon"}, "since"),
    ({"loop": "lp", "since": "1h", "types": ["opne"]}, "types[0]"),
    ({"loop": "lp", "since": "1h", "types": []}, "types"),
    ({"loop": "lp", "since": "1h", "rate_per_s": 0}, "rate_per_s"),
    ({"loop": "lp", "since": "1h", "dry_run": "yes"}, "dry_run"),
    ({"loop": "lp", "since": "1h", "evnets": ["open"]}, "evnets"),
    ([], None),
])
def test_refusals_name_the_field(body: Any, field: str | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_body(body, NOW)
    assert caught.value.field == field
