"""Signing secrets of a loop: the one rule for what a valid secret is.

Standard Webhooks symmetric secrets are ``whsec_`` + base64 of 24 to 64 random bytes
(https://www.standardwebhooks.com, "Signature scheme"). Every door that accepts a secret (API,
YAML, CLI, the ``fl.loops`` registry, the sender) checks it here, so a secret that passes one
door is never refused by another. Messages never contain the secret itself.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Final

__all__ = ["MAX_KEY_BYTES", "MIN_KEY_BYTES", "SECRET_PREFIX", "SigningSecret", "check_secret",
           "secret_key"]

SECRET_PREFIX: Final = "whsec_"
MIN_KEY_BYTES: Final = 24
MAX_KEY_BYTES: Final = 64


def secret_key(secret: str) -> bytes:
    """The raw key of ``secret`` after checking it (see :func:`check_secret`)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r} (a Standard Webhooks secret)")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be {SECRET_PREFIX} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key after "
                         f"{SECRET_PREFIX} (this one holds {len(key)})")
    return key


def check_secret(secret: str) -> None:
    """Raise ``ValueError`` (without the secret in the message) unless ``secret`` is valid."""
    secret_key(secret)


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One secret of a loop; unexpired secrets all sign (rotation).

    ``expires_at`` is Unix seconds or None (never). The secret never appears in ``repr``.
    """

    secret: str = field(repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        check_secret(self.secret)

    @property
    def key(self) -> bytes:
        """The HMAC key: the base64-decoded part after ``whsec_``."""
        return base64.b64decode(self.secret[len(SECRET_PREFIX):])

    def active(self, now: float) -> bool:
        """True while the secret signs: no expiry, or ``now`` (Unix seconds) before it."""
        return self.expires_at is None or now < self.expires_at
