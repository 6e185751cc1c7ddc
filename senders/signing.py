"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Every call carries ``webhook-id`` (stable across retries: the receiver's idempotency key),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: space-separated
``v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>``, one per active secret, so during a
rotation receivers holding either the old or the new secret can verify. ``key`` is the
base64-decoded part of the secret after ``whsec_``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
from typing import Sequence

from schemas.secrets import SECRET_PREFIX, SigningSecret

__all__ = ["Signer", "generate_secret", "sign", "webhook_headers"]


def generate_secret(size_bytes: int = 32) -> str:
    """A fresh secret: ``whsec_`` + base64 of ``size_bytes`` (24-64) random bytes."""
    if not 24 <= size_bytes <= 64:
        raise ValueError(f"size_bytes: must be in [24, 64], got {size_bytes}")
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(size_bytes)).decode("ascii")


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{id}.{timestamp}.{body}`` with the raw HMAC ``key``."""
    mac = hmac.new(key, b"%s.%d.%s" % (webhook_id.encode(), timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def webhook_headers(webhook_id: str, timestamp: int, body: bytes,
                    secrets: Sequence[str | SigningSecret]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (``whsec_...``
    strings or SigningSecrets; expiry is the caller's business here, see :class:`Signer`).
    With no secret, ``webhook-signature`` is left out."""
    keys = [_key(s) for s in secrets]
    return _headers(keys, webhook_id, timestamp, body)


class Signer:
    """Signs with the secrets of one loop; keys are decoded once, expiry checked per call."""

    __slots__ = ("_keys",)

    def __init__(self, secrets: Sequence[SigningSecret]) -> None:
        self._keys: tuple[tuple[bytes, float | None], ...] = tuple(
            (s.key, s.expires_at) for s in secrets)

    def headers(self, webhook_id: str, now: float, body: bytes) -> dict[str, str]:
        """Headers for a call at ``now`` (Unix seconds; ``webhook-timestamp`` is its integer
        part), signed by every secret unexpired at ``now``."""
        keys = [k for k, expires_at in self._keys if expires_at is None or now < expires_at]
        return _headers(keys, webhook_id, int(now), body)


def _headers(keys: Sequence[bytes], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp)}
    if keys:
        headers["webhook-signature"] = " ".join(sign(k, webhook_id, timestamp, body) for k in keys)
    return headers


def _key(secret: str | SigningSecret) -> bytes:
    if isinstance(secret, SigningSecret):
        return secret.key
    return SigningSecret(secret).key
