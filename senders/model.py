"""A loop (customer endpoint) as the sender needs it, read once from its definition."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, NoReturn, cast

from schemas.secrets import SecretKind, secret_key

from .errors import InvalidLoopDefinition

__all__ = ["ENCODINGS", "Encoding", "LoopSettings", "SigningSecret"]

Encoding = Literal["json", "form", "json-batch"]
ENCODINGS: tuple[Encoding, ...] = ("json", "form", "json-batch")

#: limits a definition may not exceed (a typo such as timeout_s: 6000 fails loudly).
MAX_TIMEOUT_S = 120.0
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_WAIT_MS = 60_000


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """One Standard Webhooks secret of either kind (:mod:`schemas.secrets`): ``whsec_`` + base64
    HMAC key (signs ``v1``) or ``whsk_`` + base64 ed25519 private key (signs ``v1a``); every
    unexpired secret of a loop signs. ``expires_at`` is Unix seconds or None (never).

    A secret breaking the rule raises ValueError (never quoting it); it never appears in
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


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """Everything the dispatcher needs about one loop; units are in the names."""

    id: str
    url: str
    encoding: Encoding = "json"
    secrets: tuple[SigningSecret, ...] = ()
    timeout_s: float = 10.0
    max_in_flight: int = 32
    rate_per_s: float = 200.0
    batch_max_events: int = 100
    batch_max_wait_ms: int = 1000

    @classmethod
    def from_definition(
        cls,
        doc: Mapping[str, Any],
        *,
        timeout_s: float = 10.0,
        max_in_flight: int = 32,
        rate_per_s: float = 200.0,
        batch_max_events: int = 100,
        batch_max_wait_ms: int = 1000,
    ) -> LoopSettings:
        """Read a loop definition (the ``fl.loops`` record); keyword arguments are the defaults
        for keys the definition leaves out. Keys the sender does not use (events, database,
        fields, status, ...) are ignored. Raises InvalidLoopDefinition naming the key."""
        loop_id = doc.get("id")
        if not isinstance(loop_id, str) or not loop_id:
            raise InvalidLoopDefinition(str(loop_id), "id", f"must be a non-empty string, got {loop_id!r}")
        reader = _Reader(loop_id, doc)
        url = reader.text("url")
        if not (url.startswith("http://") or url.startswith("https://")):
            reader.fail("url", f"must be an http(s) URL, got {url!r}")
        encoding = doc.get("encoding") or "json"
        if encoding not in ENCODINGS:
            reader.fail("encoding", f"must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
        batch = doc.get("batch") or {}
        if not isinstance(batch, Mapping):
            reader.fail("batch", f"must be a mapping with max_events and max_wait_ms, got {batch!r}")
        batch_reader = _Reader(loop_id, batch, prefix="batch.")
        return cls(
            id=loop_id,
            url=url,
            encoding=cast(Encoding, encoding),
            secrets=reader.secrets("secrets"),
            timeout_s=reader.number("timeout_s", timeout_s, low=0.0, high=MAX_TIMEOUT_S),
            max_in_flight=int(reader.number("max_in_flight", max_in_flight, low=1,
                                            low_inclusive=True, integer=True)),
            rate_per_s=reader.number("rate_per_s", rate_per_s, low=0.0),
            batch_max_events=int(batch_reader.number("max_events", batch_max_events, low=1,
                                                     low_inclusive=True, high=MAX_BATCH_EVENTS,
                                                     integer=True)),
            batch_max_wait_ms=int(batch_reader.number("max_wait_ms", batch_max_wait_ms, low=0,
                                                      low_inclusive=True, high=MAX_BATCH_WAIT_MS,
                                                      integer=True)),
        )


class _Reader:
    """Reads typed values out of a definition; every failure names the key and the value."""

    def __init__(self, loop_id: str, doc: Mapping[str, Any], prefix: str = "") -> None:
        self.loop_id = loop_id
        self.doc = doc
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> NoReturn:
        raise InvalidLoopDefinition(self.loop_id, self.prefix + key, problem)

    def text(self, key: str) -> str:
        value = self.doc.get(key)
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: float, *, low: float, low_inclusive: bool = False,
               high: float | None = None, integer: bool = False) -> float:
        value = self.doc.get(key)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"must be a number, got {value!r}")
        if integer and value != int(value):
            self.fail(key, f"must be a whole number, got {value!r}")
        too_low = value < low if low_inclusive else value <= low
        if too_low or (high is not None and value > high):
            upper = "∞)" if high is None else f"{high:g}]"
            self.fail(key, f"must be in {'[' if low_inclusive else '('}{low:g}, {upper}, got {value!r}")
        return float(value)

    def secrets(self, key: str) -> tuple[SigningSecret, ...]:
        raw = self.doc.get(key) or ()
        if not isinstance(raw, (list, tuple)):
            self.fail(key, f"must be a list of {{secret, expires_at}}, got {type(raw).__name__}")
        out: list[SigningSecret] = []
        for i, item in enumerate(raw):
            where = f"{key}[{i}]"
            if isinstance(item, str):
                item = {"secret": item}
            if not isinstance(item, Mapping):
                self.fail(where, f"must be a mapping with secret and expires_at, got {type(item).__name__}")
            expires_at = _expiry(item.get("expires_at"))
            if expires_at is False:
                self.fail(f"{where}.expires_at",
                          f"must be Unix seconds or an RFC 3339 time, got {item.get('expires_at')!r}")
            secret = item.get("secret")
            if not isinstance(secret, str):
                self.fail(f"{where}.secret", "must be a string starting with whsec_ or whsk_")
            try:
                out.append(SigningSecret(secret, expires_at))
            except ValueError as exc:
                # the message never contains the secret itself
                self.fail(f"{where}.secret", str(exc))
        return tuple(out)


def _expiry(value: Any) -> float | None | Literal[False]:
    """Unix seconds from a number or an RFC 3339 string; None when absent; False when bad."""
    if value is None:
        return None
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else False
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        if parsed.tzinfo is None:
            return False
        return parsed.timestamp()
    return False
