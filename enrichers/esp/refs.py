"""The signed ``X-FL-Ref`` header: ``make_ref`` writes it into every e-mail the platform sends,
``read_ref`` reads it back from the original a report returns.

Its value is ``v1.<payload>.<signature>``, short and deterministic (see ``make_ref``); the
signature is checked before anything in the payload is parsed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Final

import orjson

from .model import EspReportError, ProfileRef

__all__ = ["REF_HEADER", "make_ref", "read_ref"]

REF_HEADER: Final = "X-FL-Ref"
"""The header our outgoing e-mail carries; its value is ``make_ref``'s."""

_REF_VERSION: Final = "v1"
_SIGNATURE_BYTES: Final = 16
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def make_ref(secret: bytes, ref: ProfileRef) -> str:
    """The ``X-FL-Ref`` header value for ``ref``: ``v1.<payload>.<signature>``.

    ``payload`` is base64url (no padding) of orjson's compact JSON of the non-``None`` fields
    under the short keys ``d p m c s``, keys sorted; ``signature`` is base64url (no padding) of
    the first 16 bytes of HMAC-SHA256(``secret``, payload text). Short, so providers rarely
    fold it; deterministic, so the same e-mail always carries the same value. Raises
    ``ValueError`` for an empty ``database``: ``read_ref`` would reject the result.
    """
    if not ref.database:
        raise ValueError("ProfileRef.database must not be empty")
    values = {"d": ref.database, "p": ref.profile, "m": ref.mailing, "c": ref.collection,
              "s": ref.subprofile}
    present = {key: value for key, value in values.items() if value is not None}
    payload = _b64encode(orjson.dumps(present, option=orjson.OPT_SORT_KEYS))
    return f"{_REF_VERSION}.{payload}.{_signature(secret, payload)}"


#: one secret, or several: the current one and those still accepted after a change
RefSecrets = bytes | Sequence[bytes]


def read_ref(value: str, secret: RefSecrets) -> ProfileRef:
    """The ``ProfileRef`` that ``make_ref`` encoded in ``value``.

    All whitespace is removed first: providers re-fold long headers. The signature is checked
    (``hmac.compare_digest``) before the payload is decoded, so nothing unsigned is parsed.
    With several secrets (a change of secret: references of mail sent before it stay
    readable) any of them may have signed it. Raises ``EspReportError`` naming the problem (version, encoding, signature, JSON, fields);
    it raises nothing else, whatever ``value`` holds. Unknown JSON keys are ignored, so a
    newer writer's references stay readable.
    """
    compact = "".join(value.split())
    version, _, rest = compact.partition(".")
    if version != _REF_VERSION:
        raise EspReportError(f"{REF_HEADER} is not a {_REF_VERSION} reference "
                             f"(it starts with {compact[:12]!r})")
    payload, dot, signature = rest.partition(".")
    if not dot or not _BASE64URL.fullmatch(payload) or not _BASE64URL.fullmatch(signature):
        raise EspReportError(f"{REF_HEADER} is damaged: not v1.<base64url>.<base64url>")
    secrets = (secret,) if isinstance(secret, bytes) else tuple(secret)
    if not any(hmac.compare_digest(signature, _signature(key, payload)) for key in secrets):
        raise EspReportError(f"{REF_HEADER} signature does not match: damaged, forged, or "
                             "signed with another secret")
    return _ref_from_json(_decoded_payload(payload))


def _signature(secret: bytes, payload: str) -> str:
    """The signature part of a reference whose payload part is ``payload``."""
    digest = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest[:_SIGNATURE_BYTES])


def _b64encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decoded_payload(payload: str) -> object:
    """The JSON value in a (signed) payload part."""
    try:
        data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise EspReportError(f"{REF_HEADER} payload is not valid base64url") from None
    try:
        parsed: object = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise EspReportError(f"{REF_HEADER} payload is not valid JSON") from None
    return parsed


def _ref_from_json(data: object) -> ProfileRef:
    """The ``ProfileRef`` in a decoded payload: an object with a non-empty string ``d``."""
    if not isinstance(data, dict):
        raise EspReportError(f"{REF_HEADER} payload is not a JSON object")
    database = data.get("d")
    if not isinstance(database, str) or not database:
        raise EspReportError(f"{REF_HEADER} names no database")
    return ProfileRef(database=database, profile=_optional(data, "p"),
                      mailing=_optional(data, "m"), collection=_optional(data, "c"),
                      subprofile=_optional(data, "s"))


def _optional(data: Mapping[object, object], key: str) -> str | None:
    """``data[key]`` when a string, ``None`` when absent or null."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise EspReportError(f"{REF_HEADER} field {key!r} is not a string")
