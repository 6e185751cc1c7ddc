"""schemas.loop: the one loop model — defaults and limits from loop.json, deliverability."""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from schemas.errors import InvalidRecord
from schemas.loop import DEFAULTS, Loop, limit
from tests.schemas.examples import loop_definition


def make(**overrides: Any) -> Loop:
    return Loop.from_doc(loop_definition(**overrides))


def test_round_trip() -> None:
    loop = make()
    assert Loop.from_doc(loop.to_doc()) == loop
    assert loop.to_doc() == {**loop_definition(), "rate_per_s": 20.0, "timeout_s": 5.0}


def test_defaults_and_limits_come_from_the_schema_file() -> None:
    schema = json.loads(resources.files("schemas").joinpath("loop.json").read_text())
    props = schema["properties"]
    assert DEFAULTS["rate_per_s"] == props["rate_per_s"]["default"]
    assert DEFAULTS["max_in_flight"] == props["max_in_flight"]["default"]
    assert limit("timeout_s", "maximum") == props["timeout_s"]["maximum"]
    assert limit("batch.max_events", "maximum") == props["batch"]["properties"]["max_events"]["maximum"]
    doc = loop_definition()
    for key in ("rate_per_s", "max_in_flight", "timeout_s", "batch", "encoding"):
        doc.pop(key)
    loop = Loop.from_doc(doc)
    assert (loop.rate_per_s, loop.max_in_flight, loop.timeout_s, loop.encoding) == (
        props["rate_per_s"]["default"], props["max_in_flight"]["default"],
        props["timeout_s"]["default"], props["encoding"]["default"])


def test_deliverable_only_when_enabled_and_proven_for_the_current_url() -> None:
    assert make().deliverable and make().undeliverable_reason() is None
    disabled = make(status="disabled", disabled_reason="410 Gone")
    assert not disabled.deliverable
    assert disabled.undeliverable_reason() == "loop disabled: 410 Gone"
    moved = make(url="https://elsewhere.example.org/hook")
    assert not moved.deliverable
    assert moved.undeliverable_reason() == "loop URL ownership not validated"
    assert not make(validation=None).deliverable


def test_a_new_url_clears_the_proof_and_keeps_the_challenge() -> None:
    loop = make()
    moved = loop.changed(url="https://elsewhere.example.org/hook")
    assert moved.validation is not None and loop.validation is not None
    assert (moved.validation.file_name, moved.validation.content) == \
        (loop.validation.file_name, loop.validation.content)
    assert moved.validation.validated_at is None and not moved.deliverable
    assert loop.changed(rate_per_s=5).validation == loop.validation


def test_secrets_never_show_in_repr_or_errors() -> None:
    loop = make()
    assert loop.secrets[0].secret not in repr(loop)
    bad = "whsec_" + "x" * 20
    with pytest.raises(InvalidRecord) as info:
        make(secrets=[{"secret": bad, "expires_at": None}])
    assert bad not in str(info.value) and info.value.field == "secrets[0].secret"


@pytest.mark.parametrize("loop_id", ["", "a|b", "-x", ".x", "x" * 65, "a b"])
def test_loop_ids_are_safe_in_keys_and_urls(loop_id: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        make(id=loop_id)
    assert info.value.field == "id"
