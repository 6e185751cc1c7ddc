"""The one rule for signing secrets: whsec_ + base64 of 24-64 bytes, whsk_ + base64 of a 32-byte
ed25519 key; clear errors that never quote the secret."""
from __future__ import annotations

import base64

import pytest

from schemas import InvalidSecret, SchemasError, check_secret, secret_kind
from schemas.secrets import secret_key


def whsec(size: int, padded: bool = True) -> str:
    text = base64.b64encode(bytes(range(1, size + 1))).decode()
    return "whsec_" + (text if padded else text.rstrip("="))


@pytest.mark.parametrize("secret, kind, size", [
    (whsec(24), "v1", 24),
    (whsec(25), "v1", 25),
    (whsec(32), "v1", 32),
    (whsec(64), "v1", 64),
    (whsec(25, padded=False), "v1", 25),  # the reference libraries accept unpadded base64
    (whsec(26, padded=False), "v1", 26),
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "v1", 24),  # the specification's example
    ("whsk_" + base64.b64encode(b"k" * 32).decode(), "v1a", 32),
    ("whsk_" + base64.b64encode(b"k" * 32).decode().rstrip("="), "v1a", 32),
])
def test_valid_secrets(secret: str, kind: str, size: int) -> None:
    assert check_secret(secret) is None
    assert secret_kind(secret) == kind
    assert len(secret_key(secret)[1]) == size


@pytest.mark.parametrize("secret, message", [
    (whsec(16), "must be base64 of 24 to 64 bytes (Standard Webhooks), this one has 16"),
    (whsec(23), "this one has 23"),
    (whsec(65), "this one has 65"),
    ("whsec_", "must be followed by standard base64"),
    # issue 9, item 5: 'whsec_' + 25 base64 characters is not base64 at all
    ("whsec_" + "A" * 25, "must be followed by standard base64"),
    ("whsec_" + "A" * 31 + "=" * 3, "must be followed by standard base64"),
    ("whsec_" + base64.b64encode(b"x" * 30).decode() + "=", "must be followed by standard base64"),
    ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 15).decode(), "standard base64"),
    ("whsec_" + base64.b64encode(b"x" * 30).decode() + "\n", "standard base64"),
    (" " + whsec(32), "must start with 'whsec_'"),
    ("WHSEC_" + whsec(32)[6:], "must start with 'whsec_'"),
    ("whsk_" + base64.b64encode(b"k" * 31).decode(), "32-byte ed25519 private key, this one has 31"),
    ("whsk_" + base64.b64encode(b"k" * 64).decode(), "this one has 64 bytes"),
    ("whpk_" + base64.b64encode(b"k" * 32).decode(), "is a public key"),
    ("sk_live_abc", "must start with 'whsec_' (HMAC-SHA256, signature v1) or 'whsk_'"),
    ("", "must start with"),
    (None, "must be a string"),
    (b"whsec_abc", "must be a string"),
])
def test_invalid_secrets_name_the_rule_not_the_secret(secret: object, message: str) -> None:
    with pytest.raises(InvalidSecret) as info:
        check_secret(secret)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SchemasError)
    if isinstance(secret, str) and len(secret) > 6:
        body = secret.split("_", 1)[-1].strip()
        assert body not in str(info.value)
