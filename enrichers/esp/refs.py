"""The signed ``X-FL-Ref`` header: ``make_ref`` writes it into every e-mail the platform sends,
``read_ref`` reads it back from the original a report returns, ``resolve_ref`` maps a parsed
finding with it. ``make_unsubscribe_ref`` / ``read_unsubscribe_ref`` are the same reference
for the one-click unsubscribe URL (RFC 8058), signed for that purpose only.

Its value is ``v1.<payload>.<signature>``, short and deterministic (see ``make_ref``); the
signature is checked before anything in the payload is parsed. An unsubscribe reference is
``u1.<payload>.<signature>`` whose signature covers ``u1.<payload>``: neither kind is
accepted as the other (a header copied from a report is no unsubscribe link, and back).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

import orjson

from .model import EspReportError, ProfileRef

__all__ = ["REF_HEADER", "make_ref", "read_ref", "resolve_ref", "make_unsubscribe_ref",
           "read_unsubscribe_ref", "RefSecrets"]

REF_HEADER: Final = "X-FL-Ref"
"""The header our outgoing e-mail carries; its value is ``make_ref``'s."""

_REF_VERSION: Final = "v1"
_UNSUBSCRIBE_VERSION: Final = "u1"
_NO_REF: Final = f"no {REF_HEADER} header in the returned message"
_NO_ORIGINAL: Final = ("the report returns no original message "
                       "(message/rfc822, text/rfc822-headers or a quoted copy)")
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
    payload = _payload(ref)
    return f"{_REF_VERSION}.{payload}.{_signature(secret, payload)}"


def make_unsubscribe_ref(secret: bytes, ref: ProfileRef) -> str:
    """The reference of a one-click unsubscribe URL: ``u1.<payload>.<signature>``, the
    payload as ``make_ref``'s, the signature over ``u1.<payload>``. URL-safe as it is."""
    payload = _payload(ref)
    return f"{_UNSUBSCRIBE_VERSION}.{payload}.{_signature(secret, f'{_UNSUBSCRIBE_VERSION}.{payload}')}"


def _payload(ref: ProfileRef) -> str:
    """The payload part of a reference to ``ref``."""
    if not ref.database:
        raise ValueError("ProfileRef.database must not be empty")
    values = {"d": ref.database, "p": ref.profile, "m": ref.mailing, "c": ref.collection,
              "s": ref.subprofile}
    present = {key: value for key, value in values.items() if value is not None}
    return _b64encode(orjson.dumps(present, option=orjson.OPT_SORT_KEYS))


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
    return _read("".join(value.split()), secret, _REF_VERSION, REF_HEADER, "")


def read_unsubscribe_ref(value: str, secret: RefSecrets) -> ProfileRef:
    """The ``ProfileRef`` of a one-click unsubscribe reference (``make_unsubscribe_ref``);
    raises ``EspReportError`` naming the problem, as ``read_ref`` does."""
    return _read(value.strip(), secret, _UNSUBSCRIBE_VERSION, "the unsubscribe reference",
                 f"{_UNSUBSCRIBE_VERSION}.")


def _read(compact: str, secret: RefSecrets, expected: str, what: str,
          signed_prefix: str) -> ProfileRef:
    """``read_ref`` and ``read_unsubscribe_ref``: version, shape, signature, then payload."""
    version, _, rest = compact.partition(".")
    if version != expected:
        raise EspReportError(f"{what} is not a {expected} reference "
                             f"(it starts with {compact[:12]!r})")
    payload, dot, signature = rest.partition(".")
    if not dot or not _BASE64URL.fullmatch(payload) or not _BASE64URL.fullmatch(signature):
        raise EspReportError(f"{what} is damaged: not {expected}.<base64url>.<base64url>")
    secrets = (secret,) if isinstance(secret, bytes) else tuple(secret)
    signed = signed_prefix + payload
    if not any(hmac.compare_digest(signature, _signature(key, signed)) for key in secrets):
        raise EspReportError(f"{what} signature does not match: damaged, forged, or "
                             "signed with another secret")
    return _ref_from_json(_decoded_payload(payload))


class _Finding(Protocol):
    """What ``resolve_ref`` needs of a ``Complaint`` or ``Bounce``."""

    @property
    def ref_values(self) -> tuple[str, ...]: ...

    @property
    def original(self) -> bool: ...


def resolve_ref(finding: _Finding, secret: RefSecrets) -> tuple[ProfileRef | None, str | None]:
    """``(ref, None)`` from the first valid ``X-FL-Ref`` value a finding's returned original
    carries, else ``(None, why not)``: no original returned, no header in it, or the first
    value's problem (forged, damaged...)."""
    if not finding.ref_values:
        return None, (_NO_REF if finding.original else _NO_ORIGINAL)
    problems: list[str] = []
    for value in finding.ref_values:
        try:
            return read_ref(value, secret), None
        except EspReportError as exc:
            problems.append(str(exc))
    return None, problems[0]


def _signature(secret: bytes, signed: str) -> str:
    """The signature part of a reference over the text ``signed``."""
    digest = hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest()
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
