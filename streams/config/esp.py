"""The ``esp`` section: mapping reports to profiles, what complaints and bounces do, the bounce
rule table, the one-click unsubscribe endpoint and the outgoing headers.

``check()`` methods raise :class:`~streams.errors.ConfigError` with ``"<key>: <problem>"`` (see
:mod:`streams.config.settings`).
"""
from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, cast
from urllib.parse import urlsplit

from enrichers.esp import DEFAULT_RULES, REASONS, BounceRules
from enrichers.esp.taxonomy import BounceClass
from streams.config.secret import Secret
from streams.errors import ConfigError

__all__ = ["Behaviour", "BouncePattern", "BounceRulesDecl", "EspConfig", "EspDatabase",
           "SoftBounceLimit", "UnsubscribeConfig", "UNSUBSCRIBING_TYPES"]

Behaviour = Literal["nothing", "remove", "update"]
ComplaintBehaviour = Behaviour  # the name before hard bounces had a behaviour too

#: feedback types that may trigger the unsubscribe behaviour (``auth-failure``, ``not-spam``
#: and ``opt-out`` never are: see docs/decisions.md)
UNSUBSCRIBING_TYPES = frozenset({"abuse", "fraud", "virus", "other"})


def _check_behaviour(key: str, behaviour: str, fields: dict[str, str],
                     fields_key: str = "fields") -> None:
    if behaviour == "update" and not fields:
        raise ConfigError(f"{fields_key}: {key}: update needs the field values to set")
    if behaviour != "update" and fields:
        raise ConfigError(f"{fields_key}: only used with {key}: update, not {behaviour}")


@dataclass(frozen=True)
class EspDatabase:
    """One database's settings; what it leaves out takes the ``esp`` section's value."""

    database: str
    #: the unsubscribe behaviour: for spam complaints, opt-out reports and one-click
    #: unsubscribes (Copernica's setting)
    on_complaint: Behaviour = "nothing"
    #: with ``update``: the profile fields to set, e.g. ``{newsletter: "no"}``
    fields: dict[str, str] = field(default_factory=dict)
    #: what a hard bounce does (``None``: ``esp.on_hard_bounce``)
    on_hard_bounce: Behaviour | None = None
    hard_bounce_fields: dict[str, str] | None = None
    #: map bounces that carry no valid X-FL-Ref to this database by their recipient address
    #: (bounce events without a profile; complaints never)
    map_bounces_by_recipient: bool = False
    #: which bounces are this database's (glob patterns of the address a bounce came back to,
    #: e.g. ``bounces-news@*``); needed when several databases map by recipient
    bounce_envelopes: tuple[str, ...] = ()

    def check(self) -> None:
        if not self.database:
            raise ConfigError("database: must not be empty")
        _check_behaviour("on_complaint", self.on_complaint, self.fields)
        if self.on_hard_bounce is not None or self.hard_bounce_fields is not None:
            _check_behaviour("on_hard_bounce", self.on_hard_bounce or "nothing",
                             self.hard_bounce_fields or {}, "hard_bounce_fields")
        if self.bounce_envelopes and not self.map_bounces_by_recipient:
            raise ConfigError("bounce_envelopes: only used with map_bounces_by_recipient: true")


@dataclass(frozen=True)
class BouncePattern:
    """One operator rule: diagnostic text matching ``pattern`` (a case-insensitive regular
    expression) means ``reason``."""

    reason: str
    pattern: str


@dataclass(frozen=True)
class BounceRulesDecl:
    """Operator overrides of the bounce rule table (``enrichers.esp.taxonomy``): ``statuses``
    (``"5.7.1": blocked-by-reputation``) and ``codes`` (``"552": mailbox-full``) replace the
    defaults', ``patterns`` are tried before the defaults', ``classes`` change a reason's class
    (``suspended: hard``)."""

    statuses: dict[str, str] = field(default_factory=dict)
    patterns: tuple[BouncePattern, ...] = ()
    codes: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        for code in self.codes:
            if not code.isdigit():
                raise ConfigError(f"codes.{code}: not an SMTP reply code")
        for reason, klass in self.classes.items():
            if reason not in REASONS:
                raise ConfigError(f"classes.{reason}: not a reason; valid: {', '.join(REASONS)}")
        self.rules()

    def rules(self) -> BounceRules:
        """The default table with these overrides in front."""
        return DEFAULT_RULES.with_overrides(
            statuses=self.statuses, patterns=[(p.reason, p.pattern) for p in self.patterns],
            codes={int(code): reason for code, reason in self.codes.items()},
            classes={reason: cast(BounceClass, klass) for reason, klass in self.classes.items()})


@dataclass(frozen=True)
class SoftBounceLimit:
    """``count`` failed soft bounces of one profile within ``days`` count as a hard bounce
    (``count: 0`` turns it off). Delays never count."""

    count: int = 0
    days: float = 7.0

    def check(self) -> None:
        if not 0 <= self.count <= 100:
            raise ConfigError(f"count: must be 0..100 (0: off), got {self.count}")
        if not 0 < self.days <= 90:
            raise ConfigError(f"days: must be more than 0 and at most 90, got {self.days}")


@dataclass(frozen=True)
class UnsubscribeConfig:
    """RFC 8058 one-click unsubscribe: ``POST /unsubscribe/<signed ref>`` on the worker API.

    ``base_url`` is the public address of that API as mail recipients' providers reach it
    (``https://...``; plain http only for loopback, in tests); without it no List-Unsubscribe
    header is made. Requests are limited per client address (``rate_per_s``, ``burst``) and in
    total (``total_rate_per_s``); a request waits at most ``timeout_ms`` for Kafka.
    """

    base_url: str | None = None
    rate_per_s: float = 2.0
    burst: int = 10
    total_rate_per_s: float = 500.0
    timeout_ms: int = 2000

    def check(self) -> None:
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            loopback = _is_loopback(parts.hostname or "")
            if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
                raise ConfigError(f"base_url: must be an https:// URL (http only for loopback), "
                                  f"got {self.base_url!r}")
            if not parts.hostname or parts.query or parts.fragment:
                raise ConfigError(f"base_url: must be scheme://host[:port][/path], got "
                                  f"{self.base_url!r}")
        if not 0 < self.rate_per_s <= 1000 or not 1 <= self.burst <= 10000:
            raise ConfigError("rate_per_s/burst: must be 0 < rate_per_s <= 1000 and "
                              "1 <= burst <= 10000")
        if not 0 < self.total_rate_per_s <= 100_000:
            raise ConfigError(f"total_rate_per_s: must be 0..100000, got {self.total_rate_per_s}")
        if not 100 <= self.timeout_ms <= 30_000:
            raise ConfigError(f"timeout_ms: must be 100..30000, got {self.timeout_ms}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class EspConfig:
    """ESP feedback loops: complaints and bounces from ``fl.esp.reports``, one-click
    unsubscribes, and the headers of outgoing mail.

    Reports map to profiles through the ``X-FL-Ref`` header the platform puts into every
    message it sends, signed with ``ref_secret`` (so a forged report cannot unsubscribe or
    delete anyone). Without a secret, reports go to ``fl.invalid``.
    """

    ref_secret: Secret | None = None
    #: secrets used before ``ref_secret``: references signed with them are still accepted
    #: (complaints about mail sent before a change arrive for weeks)
    previous_ref_secrets: tuple[Secret, ...] = ()
    #: the unsubscribe behaviour of databases not listed in ``databases``
    on_complaint: Behaviour = "nothing"
    fields: dict[str, str] = field(default_factory=dict)
    #: what a hard bounce does in databases not listed (or not saying)
    on_hard_bounce: Behaviour = "nothing"
    hard_bounce_fields: dict[str, str] = field(default_factory=dict)
    soft_bounce_limit: SoftBounceLimit = field(default_factory=SoftBounceLimit)
    #: complaint feedback types that trigger the unsubscribe behaviour
    unsubscribe_feedback_types: tuple[str, ...] = ("abuse", "fraud")
    databases: tuple[EspDatabase, ...] = ()
    bounce_rules: BounceRulesDecl = field(default_factory=BounceRulesDecl)
    unsubscribe: UnsubscribeConfig = field(default_factory=UnsubscribeConfig)
    #: the sender id, last field of the Feedback-ID header (Gmail); ``None``: no header
    feedback_id_sender: str | None = None

    def check(self) -> None:
        if self.ref_secret is not None and len(self.ref_secret.reveal()) < 16:
            raise ConfigError("ref_secret: needs at least 16 characters")
        if self.previous_ref_secrets and self.ref_secret is None:
            raise ConfigError("previous_ref_secrets: set ref_secret too (the current secret)")
        _check_behaviour("on_complaint", self.on_complaint, self.fields)
        _check_behaviour("on_hard_bounce", self.on_hard_bounce, self.hard_bounce_fields,
                         "hard_bounce_fields")
        for i, kind in enumerate(self.unsubscribe_feedback_types):
            if kind not in UNSUBSCRIBING_TYPES:
                raise ConfigError(f"unsubscribe_feedback_types[{i}]: {kind!r} never unsubscribes "
                                  f"anyone; allowed: {', '.join(sorted(UNSUBSCRIBING_TYPES))}")
        seen: set[str] = set()
        for i, db in enumerate(self.databases):
            if db.database in seen:
                raise ConfigError(f"databases[{i}].database: {db.database!r} is listed twice")
            seen.add(db.database)
        mapping = [db for db in self.databases if db.map_bounces_by_recipient]
        if len(mapping) > 1 and any(not db.bounce_envelopes for db in mapping):
            raise ConfigError("databases: several map bounces by recipient; each needs "
                              "bounce_envelopes to say which bounces are its")

    def _database(self, database: str) -> EspDatabase | None:
        return next((db for db in self.databases if db.database == database), None)

    def behaviour(self, database: str) -> tuple[Behaviour, dict[str, str]]:
        """The database's unsubscribe behaviour and its fields."""
        db = self._database(database)
        return (db.on_complaint, db.fields) if db else (self.on_complaint, self.fields)

    def hard_bounce_behaviour(self, database: str) -> tuple[Behaviour, dict[str, str]]:
        """What a hard bounce does in ``database``, and its fields."""
        db = self._database(database)
        if db is not None and db.on_hard_bounce is not None:
            return db.on_hard_bounce, db.hard_bounce_fields or {}
        return self.on_hard_bounce, self.hard_bounce_fields

    def recipient_database(self, envelope: str | None) -> str | None:
        """The database an unmapped bounce that came back to ``envelope`` belongs to, when an
        operator allowed mapping by recipient (``None``: none)."""
        for db in self.databases:
            if not db.map_bounces_by_recipient:
                continue
            if not db.bounce_envelopes or any(
                    fnmatch.fnmatchcase((envelope or "").lower(), pattern.lower())
                    for pattern in db.bounce_envelopes):
                return db.database
        return None

    @cached_property
    def rules(self) -> BounceRules:
        """The bounce rule table with the operator's overrides."""
        return self.bounce_rules.rules()

    def secrets(self) -> list[bytes] | None:
        """The reference secrets, current first; ``None`` without ``ref_secret``."""
        if self.ref_secret is None:
            return None
        return [s.reveal().encode() for s in (self.ref_secret, *self.previous_ref_secrets)]
