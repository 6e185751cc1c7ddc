"""Standard Webhooks signing secrets: the one rule every door checks (API, YAML, CLI, registry,
loop model, sender), so a secret accepted in one place is never refused in another.

Two kinds, told apart by their prefix (https://www.standardwebhooks.com, "Signature scheme"):

- ``whsec_`` + base64 of 24 to 64 random bytes: the HMAC-SHA256 key; signatures ``v1,<base64>``.
- ``whsk_`` + base64 of a 32-byte ed25519 private key (the seed, as RFC 8032 and the Standard
  Webhooks libraries hold it); signatures ``v1a,<base64>``. Its public key, ``whpk_`` + base64
  of 32 bytes, is what a receiver verifies with; it is derived by :mod:`senders.signing`.

Base64 is the standard alphabet (``A-Z a-z 0-9 + /``); the ``=`` padding may be left out, as
the reference libraries accept both. Nothing else (spaces, URL-safe ``-_``, extra padding) is.

Every error is an :class:`~schemas.errors.InvalidSecret` (a ValueError) whose message never
contains the secret. Standard library only: ``schemas`` imports nothing of ours.
"""
from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from typing import Literal

from .errors import InvalidSecret

__all__ = [
    "ED25519_KEY_BYTES",
    "MAX_SYMMETRIC_BYTES",
    "MIN_SYMMETRIC_BYTES",
    "PUBLIC_KEY_PREFIX",
    "SIGNING_KEY_PREFIX",
    "SYMMETRIC_PREFIX",
    "SecretKind",
    "SigningSecret",
    "check_secret",
    "decode_key",
    "secret_key",
    "secret_kind",
]

SYMMETRIC_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
#: the Standard Webhooks bounds for an HMAC key: 192 to 512 bits.
MIN_SYMMETRIC_BYTES = 24
MAX_SYMMETRIC_BYTES = 64
#: an ed25519 private key (seed) and public key are both 32 bytes.
ED25519_KEY_BYTES = 32

#: the signature version a secret produces: ``v1`` (HMAC) or ``v1a`` (ed25519).
SecretKind = Literal["v1", "v1a"]

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_KINDS = "'whsec_' (HMAC-SHA256, signature v1) or 'whsk_' (ed25519, signature v1a)"
_NOT_BASE64 = "'{}' must be followed by standard base64 (A-Z, a-z, 0-9, '+', '/'; '=' padding optional)"


def check_secret(secret: object) -> None:
    """Return None when ``secret`` is a valid ``whsec_`` or ``whsk_`` secret, else raise
    InvalidSecret (a ValueError) saying what is wrong, never what the secret is."""
    secret_key(secret)


def secret_kind(secret: object) -> SecretKind:
    """``"v1"`` for a valid ``whsec_`` secret, ``"v1a"`` for a valid ``whsk_`` key; raises
    InvalidSecret otherwise."""
    return secret_key(secret)[0]


def secret_key(secret: object) -> tuple[SecretKind, bytes]:
    """The kind and the raw key bytes (the HMAC key, or the ed25519 seed) of a valid secret;
    raises InvalidSecret otherwise."""
    if not isinstance(secret, str):
        raise InvalidSecret(f"a signing secret must be a string starting with {_KINDS}")
    if secret.startswith(SYMMETRIC_PREFIX):
        key = decode_key(secret, SYMMETRIC_PREFIX)
        if not MIN_SYMMETRIC_BYTES <= len(key) <= MAX_SYMMETRIC_BYTES:
            raise InvalidSecret(
                f"a '{SYMMETRIC_PREFIX}' secret must be base64 of {MIN_SYMMETRIC_BYTES} to "
                f"{MAX_SYMMETRIC_BYTES} bytes (Standard Webhooks), this one has {len(key)}")
        return "v1", key
    if secret.startswith(SIGNING_KEY_PREFIX):
        key = decode_key(secret, SIGNING_KEY_PREFIX)
        if len(key) != ED25519_KEY_BYTES:
            raise InvalidSecret(
                f"a '{SIGNING_KEY_PREFIX}' key must be base64 of a {ED25519_KEY_BYTES}-byte "
                f"ed25519 private key, this one has {len(key)} bytes")
        return "v1a", key
    if secret.startswith(PUBLIC_KEY_PREFIX):
        raise InvalidSecret(f"a '{PUBLIC_KEY_PREFIX}' key is a public key: signing needs the "
                            f"private one ('{SIGNING_KEY_PREFIX}')")
    raise InvalidSecret(f"a signing secret must start with {_KINDS}")


def decode_key(text: str, prefix: str) -> bytes:
    """The bytes of ``prefix`` + standard base64 (padding optional); raises InvalidSecret naming
    the prefix, never the text, when ``text`` is not that."""
    body = text[len(prefix):] if text.startswith(prefix) else None
    # padding, when present, must complete the last quantum; without it the length must be one
    # base64 can have (4n + 2 or 4n + 3 characters for a partial last quantum)
    if (body is None or not _BASE64.fullmatch(body)
            or (len(body) % 4 != 0 if "=" in body else len(body) % 4 == 1)):
        raise InvalidSecret(_NOT_BASE64.format(prefix))
    try:
        return binascii.a2b_base64(body + "=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error:
        raise InvalidSecret(_NOT_BASE64.format(prefix)) from None


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One secret of a loop, of either kind: ``whsec_`` + base64 HMAC key (signs ``v1``) or
    ``whsk_`` + base64 ed25519 private key (signs ``v1a``); every unexpired secret of a loop
    signs (rotation). ``expires_at`` is Unix seconds or None (never).

    A secret breaking the rule raises InvalidSecret (never quoting it); it never appears in
    ``repr``.
    """

    secret: str = field(repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        secret_key(self.secret)

    @property
    def kind(self) -> SecretKind:
        """``"v1"`` (HMAC-SHA256) or ``"v1a"`` (ed25519)."""
        return secret_key(self.secret)[0]

    @property
    def key(self) -> bytes:
        """The raw key: the HMAC key, or the 32-byte ed25519 private key (seed)."""
        return secret_key(self.secret)[1]

    def active(self, now: float) -> bool:
        """True while the secret signs: no expiry, or ``now`` (Unix seconds) before it."""
        return self.expires_at is None or now < self.expires_at
