"""The feedback loop: one typed, immutable model, read from and written to ``fl.loops``.

Limits and defaults live in one place, ``schemas/loop.json``: :meth:`Loop.from_doc` validates a
document against it (filling in the schema's defaults), then applies the rules a schema cannot
express (the URL's parts, the secret's key length: :mod:`schemas.secrets`). Every door — the
API, the YAML file, the CLI, the ``fl.loops`` registry, the router and the sender — makes its
loops here, so they accept and refuse exactly the same loops, and a refusal is an
``InvalidRecord`` naming the field.

A loop is *deliverable* (:meth:`Loop.undeliverable_reason` is None) when it is enabled and its
URL ownership is validated for its current URL: nothing from a profile goes anywhere else.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

from .contracts import load_schema
from .errors import InvalidRecord
from .secrets import SigningSecret, check_secret
from .validation import validate_loop

__all__ = ["DEFAULTS", "ENCODINGS", "Batch", "DeliveryMode", "Encoding", "Loop", "Status", "Validation",
           "ValidationMethod", "limit"]

Encoding = Literal["json", "form", "json-batch"]
DeliveryMode = Literal["events", "summary"]
Status = Literal["enabled", "disabled"]
ValidationMethod = Literal["file", "dns", "operator"]
ENCODINGS: Final[tuple[Encoding, ...]] = ("json", "form", "json-batch")

_PROPERTIES: Final[Mapping[str, Any]] = load_schema("loop.json")["properties"]

DEFAULTS: Final[Mapping[str, Any]] = {
    name: prop["default"] for name, prop in _PROPERTIES.items() if "default" in prop}
"""The schema's default of every optional property (``rate_per_s``, ``max_in_flight``, ...)."""


def limit(name: str, bound: str) -> Any:
    """A bound of a loop property from the schema: ``limit("timeout_s", "maximum")``;
    ``limit("batch.max_events", "maximum")`` for nested ones."""
    prop: Mapping[str, Any] = _PROPERTIES
    parts = name.split(".")
    node: Mapping[str, Any] = prop[parts[0]]
    for part in parts[1:]:
        node = node["properties"][part]
    return node[bound]


@dataclass(frozen=True, slots=True)
class Batch:
    """``json-batch``: a call carries at most ``max_events``, waits at most ``max_wait_ms``."""

    max_events: int
    max_wait_ms: int


@dataclass(frozen=True, slots=True)
class Validation:
    """URL ownership: the challenge (file name and content) and, once proven, for which URL,
    when (Unix seconds) and how."""

    file_name: str
    content: str
    validated_at: float | None = None
    validated_url: str | None = None
    method: ValidationMethod | None = None

    def proves(self, url: str) -> bool:
        """True when ownership was proven for exactly ``url``."""
        return bool(self.validated_at) and self.validated_url == url

    def cleared(self) -> Validation:
        """The same challenge, nothing proven (after a URL change)."""
        return Validation(self.file_name, self.content)


@dataclass(frozen=True, slots=True)
class Loop:
    """One feedback loop. Build it with :meth:`from_doc`; change it with :meth:`changed`.

    No field has a default here: the defaults are the schema's (:data:`DEFAULTS`)."""

    id: str
    url: str
    events: tuple[str, ...]
    database: str | None
    collection: str | None
    encoding: Encoding
    #: the (sub)profile fields to include; None = all
    fields: tuple[str, ...] | None
    batch: Batch
    rate_per_s: float
    max_in_flight: int
    timeout_s: float
    #: "events" (a call per event or batch) or "summary" (a call per ``summary_every`` window)
    delivery: DeliveryMode
    summary_every: str
    secrets: tuple[SigningSecret, ...] = field(repr=False)
    status: Status
    disabled_reason: str | None
    validation: Validation | None
    created_at: float
    updated_at: float
    version: int

    # -- reading and writing ----------------------------------------------------------------
    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Loop:
        """Validate a ``fl.loops`` document (``schemas/loop.json``) and make the loop.

        Defaults come from the schema; ``doc`` is not modified. Raises ``InvalidRecord``
        whose ``field`` names the property (``batch.max_events``, ``secrets[0].secret``).
        """
        if isinstance(doc, Mapping) and isinstance(doc.get("url"), str):
            _check_url(doc["url"])  # before the schema: a clearer reason than its pattern's
        full = validate_loop(doc)
        secrets = []
        for i, item in enumerate(full["secrets"]):
            try:
                check_secret(item["secret"])
            except ValueError as exc:
                raise InvalidRecord(f"field 'secrets[{i}].secret': {exc}",
                                    f"secrets[{i}].secret") from None
            secrets.append(SigningSecret(item["secret"], item.get("expires_at")))
        validation = full.get("validation")
        fields = full.get("fields")
        batch = full["batch"]
        return cls(
            id=full["id"], url=full["url"], events=tuple(full["events"]),
            secrets=tuple(secrets), created_at=float(full["created_at"]),
            updated_at=float(full["updated_at"]), version=int(full["version"]),
            database=full.get("database"), collection=full.get("collection"),
            encoding=cast(Encoding, full["encoding"]),
            fields=None if fields is None else tuple(fields),
            batch=Batch(int(batch["max_events"]), int(batch["max_wait_ms"])),
            rate_per_s=float(full["rate_per_s"]), max_in_flight=int(full["max_in_flight"]),
            timeout_s=float(full["timeout_s"]), status=cast(Status, full["status"]),
            delivery=cast(DeliveryMode, full["delivery"]), summary_every=full["summary_every"],
            disabled_reason=full.get("disabled_reason"),
            validation=None if validation is None else Validation(
                validation["file_name"], validation["content"], validation.get("validated_at"),
                validation.get("validated_url"), validation.get("method")),
        )

    def to_doc(self) -> dict[str, Any]:
        """The ``fl.loops`` document (secrets included: it is the registry's record)."""
        return {
            "id": self.id, "url": self.url, "events": list(self.events),
            "database": self.database, "collection": self.collection,
            "encoding": self.encoding,
            "fields": None if self.fields is None else list(self.fields),
            "batch": {"max_events": self.batch.max_events, "max_wait_ms": self.batch.max_wait_ms},
            "rate_per_s": self.rate_per_s, "max_in_flight": self.max_in_flight,
            "timeout_s": self.timeout_s,
            "delivery": self.delivery, "summary_every": self.summary_every,
            "secrets": [{"secret": s.secret, "expires_at": s.expires_at} for s in self.secrets],
            "status": self.status, "disabled_reason": self.disabled_reason,
            "validation": None if self.validation is None else dataclasses.asdict(self.validation),
            "created_at": self.created_at, "updated_at": self.updated_at,
            "version": self.version,
        }

    def changed(self, **changes: Any) -> Loop:
        """A copy with ``changes`` (document-shaped values: lists, mappings) applied and
        validated like any new document. A new URL clears the ownership proof."""
        doc = self.to_doc()
        doc.update(changes)
        if "url" in changes and changes["url"] != self.url and self.validation is not None:
            doc["validation"] = dataclasses.asdict(self.validation.cleared())
        return Loop.from_doc(doc)

    # -- what the pipeline asks -------------------------------------------------------------
    @property
    def validated(self) -> bool:
        """URL ownership is proven for the current URL."""
        return self.validation is not None and self.validation.proves(self.url)

    def undeliverable_reason(self) -> str | None:
        """Why nothing may be delivered to this loop now, or None when it may."""
        if self.status != "enabled":
            return f"loop disabled: {self.disabled_reason or 'by its owner'}"
        if not self.validated:
            return "loop URL ownership not validated"
        return None

    @property
    def deliverable(self) -> bool:
        """Enabled and validated for its current URL (:meth:`undeliverable_reason` is None)."""
        return self.status == "enabled" and self.validated

    @property
    def signature(self) -> str:
        """The signature its newest secret makes: ``v1`` (HMAC, ``whsec_``) or ``v1a``
        (ed25519, ``whsk_``; receivers verify with the public key)."""
        return self.secrets[0].kind if self.secrets else "v1"

    @property
    def batch_max_events(self) -> int:
        return self.batch.max_events

    @property
    def batch_max_wait_ms(self) -> int:
        return self.batch.max_wait_ms


def _check_url(url: str) -> None:
    """The URL rules in words (``loop.json``'s pattern says the same, less clearly), and
    what the pattern cannot say: a valid port, no fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidRecord(f"field 'url': is not a URL ({exc})", "url") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidRecord(f"field 'url': must use http or https, not "
                            f"{parts.scheme or 'no scheme'!r}", "url")
    if not parts.hostname:
        raise InvalidRecord("field 'url': must name a host", "url")
    if parts.username is not None or parts.password is not None:
        raise InvalidRecord("field 'url': must not carry credentials (user:password@)", "url")
    if parts.fragment:
        raise InvalidRecord("field 'url': must not have a #fragment", "url")
