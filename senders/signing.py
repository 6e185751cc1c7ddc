"""Standard Webhooks signatures (https://www.standardwebhooks.com), symmetric and asymmetric.

Every call carries ``webhook-id`` (stable across retries: the receiver's idempotency key),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: space-separated signatures of
``f"{id}.{timestamp}.{body}"``, one per active secret, so during a rotation receivers holding
either the old or the new key can verify. Per secret kind (:mod:`schemas.secrets`):

- ``whsec_...`` → ``v1,<base64 HMAC-SHA256(key, content)>``; the receiver holds the same secret.
- ``whsk_...`` → ``v1a,<base64 ed25519 signature>`` (64 bytes, pure ed25519 over the content);
  the receiver holds only the public key, ``whpk_...`` (:func:`public_key_of`), and can verify
  but never sign.

A loop may mix both kinds while it moves from one to the other: each signature says its
version, and receivers skip the versions they do not use.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _random
from typing import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.secrets import (MAX_SYMMETRIC_BYTES, MIN_SYMMETRIC_BYTES, PUBLIC_KEY_PREFIX,
                             SIGNING_KEY_PREFIX, SYMMETRIC_PREFIX, SigningSecret, check_secret,
                             secret_key)

__all__ = [
    "Signer",
    "check_secret",
    "generate_secret",
    "generate_signing_key",
    "public_key_of",
    "sign",
    "webhook_headers",
]

#: signs the content ``{id}.{timestamp}.{body}``, returning ``"<version>,<base64>"``.
_SignFn = Callable[[bytes], str]


def generate_secret(size_bytes: int = 32) -> str:
    """A fresh symmetric secret: ``whsec_`` + base64 of ``size_bytes`` (24-64) random bytes."""
    if not MIN_SYMMETRIC_BYTES <= size_bytes <= MAX_SYMMETRIC_BYTES:
        raise ValueError(f"size_bytes: must be in [{MIN_SYMMETRIC_BYTES}, {MAX_SYMMETRIC_BYTES}], "
                         f"got {size_bytes}")
    return SYMMETRIC_PREFIX + _b64(_random.token_bytes(size_bytes))


def generate_signing_key() -> str:
    """A fresh ed25519 signing key: ``whsk_`` + base64 of its 32-byte private key (seed)."""
    return SIGNING_KEY_PREFIX + _b64(Ed25519PrivateKey.generate().private_bytes_raw())


def public_key_of(secret: str) -> str:
    """The public key receivers verify ``v1a`` signatures with: ``whpk_`` + base64 of 32
    bytes, derived from a ``whsk_`` signing key. Raises ValueError (never quoting the secret)
    for anything else; a ``whsec_`` secret is symmetric and has no public key."""
    kind, key = secret_key(secret)
    if kind != "v1a":
        raise ValueError(f"a '{SYMMETRIC_PREFIX}' secret is symmetric and has no public key: "
                         f"use a '{SIGNING_KEY_PREFIX}' key (signature v1a)")
    public = Ed25519PrivateKey.from_private_bytes(key).public_key()
    return PUBLIC_KEY_PREFIX + _b64(public.public_bytes_raw())


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{id}.{timestamp}.{body}`` with the raw HMAC ``key``."""
    return _hmac_signer(key)(_content(webhook_id, timestamp, body))


def webhook_headers(webhook_id: str, timestamp: int, body: bytes,
                    secrets: Sequence[str | SigningSecret]) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (``whsec_``/``whsk_``
    strings or SigningSecrets; expiry is the caller's business here, see :class:`Signer`).
    With no secret, ``webhook-signature`` is left out."""
    signers = [_signer(s if isinstance(s, SigningSecret) else SigningSecret(s)) for s in secrets]
    return _headers(signers, webhook_id, timestamp, body)


class Signer:
    """Signs with the secrets of one loop, in their order; keys are decoded once, expiry is
    checked per call."""

    __slots__ = ("_signers",)

    def __init__(self, secrets: Sequence[SigningSecret]) -> None:
        self._signers: tuple[tuple[_SignFn, float | None], ...] = tuple(
            (_signer(s), s.expires_at) for s in secrets)

    def headers(self, webhook_id: str, now: float, body: bytes) -> dict[str, str]:
        """Headers for a call at ``now`` (Unix seconds; ``webhook-timestamp`` is its integer
        part), signed by every secret unexpired at ``now``."""
        active = [fn for fn, expires_at in self._signers if expires_at is None or now < expires_at]
        return _headers(active, webhook_id, int(now), body)


def _headers(signers: Sequence[_SignFn], webhook_id: str, timestamp: int,
             body: bytes) -> dict[str, str]:
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp)}
    if signers:
        content = _content(webhook_id, timestamp, body)
        headers["webhook-signature"] = " ".join(fn(content) for fn in signers)
    return headers


def _content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)


def _signer(secret: SigningSecret) -> _SignFn:
    kind, key = secret_key(secret.secret)
    if kind == "v1a":
        private = Ed25519PrivateKey.from_private_bytes(key)
        return lambda content: "v1a," + _b64(private.sign(content))
    return _hmac_signer(key)


def _hmac_signer(key: bytes) -> _SignFn:
    return lambda content: "v1," + _b64(hmac.new(key, content, hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
