"""LoopSettings read from a loop definition; failures name the key and the value."""
from __future__ import annotations

from typing import Any

import pytest

from senders.errors import InvalidLoopDefinition
from senders.model import LoopSettings, SigningSecret
from senders.signing import generate_secret

SECRET = generate_secret()
OLD_SECRET = generate_secret()


def definition(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "l1", "url": "https://hooks.example.com/receive.php", "events": ["open", "click"],
        "database": "db1", "collection": None, "encoding": "json-batch", "fields": ["firstname"],
        "batch": {"max_events": 50, "max_wait_ms": 250}, "rate_per_s": 25, "max_in_flight": 4,
        "timeout_s": 5, "secrets": [{"secret": SECRET, "expires_at": None},
                                    {"secret": OLD_SECRET, "expires_at": 1795000000}],
        "status": "active",
    }
    doc.update(overrides)
    return doc


def test_reads_every_field() -> None:
    loop = LoopSettings.from_definition(definition())
    assert loop == LoopSettings(
        id="l1", url="https://hooks.example.com/receive.php", encoding="json-batch",
        secrets=(SigningSecret(SECRET, None), SigningSecret(OLD_SECRET, 1795000000.0)),
        timeout_s=5.0, max_in_flight=4, rate_per_s=25.0, batch_max_events=50, batch_max_wait_ms=250)


def test_defaults_fill_what_the_definition_leaves_out() -> None:
    loop = LoopSettings.from_definition(
        {"id": "l2", "url": "http://x.example/"},
        timeout_s=3, max_in_flight=7, rate_per_s=9, batch_max_events=11, batch_max_wait_ms=13)
    assert (loop.encoding, loop.secrets, loop.timeout_s, loop.max_in_flight, loop.rate_per_s,
            loop.batch_max_events, loop.batch_max_wait_ms) == ("json", (), 3, 7, 9, 11, 13)


def test_expiry_as_rfc3339() -> None:
    loop = LoopSettings.from_definition(definition(secrets=[
        {"secret": SECRET, "expires_at": "2026-11-26T10:00:00Z"}]))
    assert loop.secrets[0].expires_at == 1795687200.0


@pytest.mark.parametrize("overrides, key, fragment", [
    ({"id": ""}, "id", "non-empty"),
    ({"url": None}, "url", "non-empty string"),
    ({"url": "ftp://x.example/"}, "url", "'ftp://x.example/'"),
    ({"encoding": "xml"}, "encoding", "'xml'"),
    ({"timeout_s": 0}, "timeout_s", "(0, 120], got 0"),
    ({"timeout_s": 600}, "timeout_s", "got 600"),
    ({"timeout_s": "5"}, "timeout_s", "must be a number, got '5'"),
    ({"rate_per_s": -1}, "rate_per_s", "got -1"),
    ({"max_in_flight": 0}, "max_in_flight", "[1, ∞), got 0"),
    ({"max_in_flight": 2.5}, "max_in_flight", "whole number"),
    ({"batch": {"max_events": 0}}, "batch.max_events", "got 0"),
    ({"batch": {"max_wait_ms": -5}}, "batch.max_wait_ms", "got -5"),
    ({"batch": [1]}, "batch", "mapping"),
    ({"secrets": "whsec_x"}, "secrets", "must be a list"),
    ({"secrets": [{"secret": "abc"}]}, "secrets[0].secret", "whsec_"),
    ({"secrets": [{"secret": "whsec_!!!"}]}, "secrets[0].secret", "base64"),
    ({"secrets": [{"secret": SECRET, "expires_at": "tomorrow"}]}, "secrets[0].expires_at", "'tomorrow'"),
])
def test_bad_values_name_the_key(overrides: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(InvalidLoopDefinition) as info:
        LoopSettings.from_definition(definition(**overrides))
    assert info.value.key == key
    assert fragment in str(info.value)


def test_secret_never_printed() -> None:
    loop = LoopSettings.from_definition(definition())
    assert SECRET not in repr(loop)
    with pytest.raises(InvalidLoopDefinition) as info:
        LoopSettings.from_definition(definition(secrets=[{"secret": "whsec_c2hvcnQ="}]))
    assert "c2hvcnQ" not in str(info.value)


def test_secret_activity() -> None:
    secret = SigningSecret(SECRET, expires_at=100.0)
    assert secret.active(99.9) and not secret.active(100.0)
    assert SigningSecret(SECRET).active(1e12)
    assert len(secret.key) == 32
