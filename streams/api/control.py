"""The control plane's operations, shared by the HTTP API and the ``loops`` CLI.

Loop state lives only in ``fl.loops``; every write returns once this process's registry shows
it (read-your-writes). Secrets are shown once (on create and rotate) and masked elsewhere.
"""
from __future__ import annotations

import asyncio
import builtins
import dataclasses
import secrets as _secrets
import time
from typing import Any, Callable

from schemas.errors import InvalidRecord
from schemas.loop import DEFAULTS, Loop, Validation, limit

from senders.client import HttpClient
from senders.encoding import encode
from senders.errors import DeliveryError, InvalidUrl, SsrfRefused
from senders.ownership import OwnershipResult, candidate_urls, check_dns, check_file, new_challenge
from senders.signing import generate_secret, generate_signing_key, public_key_of, webhook_headers

from streams.kafka.loopstore import LoopStore
from streams.ops.invalid import recent as recent_invalid, replay as replay_invalid
from streams.ops.redrive import redrive
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from streams.kafka.history import tail
from streams.api.inputs import from_invalid
from streams.errors import InputError, NotFound

__all__ = ["ControlPlane", "NotFound", "public_view", "what_receivers_need"]

SNIPPET_BYTES = 1024
TEST_PREFIX = "test_"


def _mask(secret: str) -> str:
    """``whsec_…abcd``: enough to tell shared secrets apart; nothing of an ed25519 private
    key (its public key identifies it)."""
    if secret.startswith("whsk_"):
        return "whsk_…"
    return f"whsec_…{secret[-4:]}"


def what_receivers_need(secret: str) -> dict[str, str]:
    """``{"secret": whsec_...}`` for a shared secret (shown once), ``{"public_key":
    whpk_...}`` for an ed25519 key (its private half never leaves the registry)."""
    if secret.startswith("whsk_"):
        return {"public_key": public_key_of(secret)}
    return {"secret": secret}


def _new_secret(signature: str) -> str:
    return generate_signing_key() if signature == "v1a" else generate_secret()


def public_view(loop: Loop, reveal_secrets: bool = False) -> dict[str, Any]:
    """A loop as the API shows it: masked secrets, the challenge with the URLs it may sit at."""
    doc = {k: v for k, v in loop.to_doc().items() if k not in ("secrets", "validation")}
    now = time.time()
    # an ed25519 signing key never leaves the registry: receivers need only its public key
    doc["secrets"] = [{"secret": s.secret if reveal_secrets and s.kind == "v1" else _mask(s.secret),
                       "expires_at": s.expires_at, "signature": s.kind,
                       **({"public_key": public_key_of(s.secret)} if s.kind == "v1a" else {})}
                      for s in loop.secrets if s.active(now)]
    doc["signature"] = loop.signature
    v = loop.validation
    validated = loop.validated
    doc["validation"] = {
        "status": "validated" if validated else "pending",
        "method": v.method if v is not None and validated else None,
        "validated_at": v.validated_at if v is not None and validated else None,
        "file_name": v.file_name if v is not None else None,
        "content": v.content if v is not None else None,
        "urls": candidate_urls(loop.url, v.file_name) if v is not None else [],
        "dns_txt": f"feedbackloop-verification={v.content if v is not None else None}",
    }
    return doc


def _made(make: Callable[[], Loop]) -> Loop:
    """``make()``, a loop the model refused becoming the API's 4xx naming the field."""
    try:
        return make()
    except InvalidRecord as exc:
        raise from_invalid(exc) from None


class ControlPlane:
    """Create, read, change and check loops."""

    def __init__(self, store: LoopStore, client: HttpClient,
                 kafka: KafkaConfig, topics: Topics, validation_max_bytes: int = 4096,
                 validation_timeout_s: float = 10.0) -> None:
        self.store = store
        self.client = client
        self.kafka = kafka
        self.topics = topics
        self.validation_max_bytes = validation_max_bytes
        self.validation_timeout_s = validation_timeout_s

    # -- reads -----------------------------------------------------------------------------
    def get(self, loop_id: str) -> Loop:
        loop = self.store.get(loop_id)
        if loop is None:
            raise NotFound(loop_id)
        return loop

    def list(self, database: str | None = None, collection: str | None = None,
             event: str | None = None, visible: Callable[[Loop], bool] | None = None) -> builtins.list[Loop]:
        """Loops of a database and/or collection and/or event type (exact matches), by id;
        with ``visible``, only the loops it accepts (the caller's account's)."""
        out = [loop for loop in self.store.all()
               if (database is None or loop.database == database)
               and (collection is None or loop.collection == collection)
               and (event is None or event in loop.events)
               and (visible is None or visible(loop))]
        return sorted(out, key=lambda loop: loop.id)

    # -- writes ----------------------------------------------------------------------------
    def _check_target(self, url: str) -> None:
        """Refuse now what the SSRF guard would refuse at connect time (IP literals in any
        notation); host names are checked when resolved."""
        try:
            self.client.target(url)
        except (InvalidUrl, SsrfRefused) as exc:
            raise InputError("url", str(exc)) from None

    async def create(self, fields: dict[str, Any]) -> Loop:
        """A new loop from the client's fields (:data:`streams.api.inputs.CREATE_FIELDS`);
        what they leave out takes the loop schema's default."""
        file_name, content = new_challenge()
        now = time.time()
        doc = {k: v for k, v in fields.items() if k not in ("secret", "signature")}
        secret = fields.get("secret") or _new_secret(fields.get("signature", "v1"))
        if isinstance(doc.get("batch"), dict):  # a partial batch takes the other default
            doc["batch"] = {**DEFAULTS["batch"], **doc["batch"]}
        doc.update({
            "id": f"lp_{_secrets.token_hex(8)}",
            "secrets": [{"secret": secret, "expires_at": None}],
            "status": "enabled", "disabled_reason": None,
            "validation": {"file_name": file_name, "content": content, "validated_at": None,
                           "validated_url": None, "method": None},
            "created_at": now, "updated_at": now, "version": 0,
        })
        loop = _made(lambda: Loop.from_doc(doc))
        if "signature" in fields and loop.signature != fields["signature"]:
            raise InputError("secret", f"is a {loop.signature} secret, but signature "
                             f"{fields['signature']} was asked for")
        self._check_target(loop.url)
        return await self.store.put(loop)

    async def patch(self, loop_id: str, fields: dict[str, Any]) -> Loop:
        """Change a loop (:data:`streams.api.inputs.PATCH_FIELDS`); a new URL clears the
        ownership proof; a partial ``batch`` keeps the loop's other batch setting."""
        loop = self.get(loop_id)
        changes = dict(fields)
        if isinstance(changes.get("batch"), dict):
            changes["batch"] = {"max_events": loop.batch.max_events,
                                "max_wait_ms": loop.batch.max_wait_ms, **changes["batch"]}
        if changes.get("status") == "enabled":
            changes["disabled_reason"] = None
        elif changes.get("status") == "disabled":
            changes["disabled_reason"] = "disabled by its owner"
        changed = _made(lambda: loop.changed(**changes))
        if changed.url != loop.url:
            self._check_target(changed.url)
        return await self.store.put(changed)

    async def delete(self, loop_id: str) -> None:
        self.get(loop_id)
        await self.store.delete(loop_id)

    async def rotate_secret(self, loop_id: str, grace_s: float,
                            signature: str | None = None) -> tuple[Loop, dict[str, str]]:
        """A new first secret (of ``signature``'s kind, default the loop's current one); the
        current ones keep signing for ``grace_s`` seconds. Returns the loop and
        :func:`what_receivers_need` of the new secret."""
        loop = self.get(loop_id)
        new = _new_secret(signature or loop.signature)
        now = time.time()
        until = now + grace_s
        kept = [{"secret": s.secret,
                 "expires_at": until if s.expires_at is None else min(s.expires_at, until)}
                for s in loop.secrets if s.active(now)]
        # the model allows 10 secrets; the oldest fall off first
        secrets = [{"secret": new, "expires_at": None}, *kept][:limit("secrets", "maxItems")]
        rotated = await self.store.put(loop.changed(secrets=secrets))
        return rotated, what_receivers_need(new)

    def public_keys(self, loop_id: str) -> builtins.list[dict[str, Any]]:
        """The ``whpk_`` public keys of the loop's unexpired ``v1a`` keys (newest first);
        InputError when the loop signs with shared secrets only."""
        loop = self.get(loop_id)
        now = time.time()
        keys = [{"public_key": public_key_of(s.secret), "expires_at": s.expires_at}
                for s in loop.secrets if s.kind == "v1a" and s.active(now)]
        if not keys:
            raise InputError("signature", "this loop signs with v1 (a shared whsec_ secret) and "
                             "has no public key; rotate its secret with signature v1a")
        return keys

    # -- checks ----------------------------------------------------------------------------
    async def validate(self, loop_id: str, method: str = "file") -> tuple[Loop, OwnershipResult]:
        """Check ownership now; on success the loop is marked validated for its current URL."""
        loop = self.get(loop_id)
        challenge = loop.validation
        if challenge is None:  # only a hand-written fl.loops record can lack one
            file_name, content = new_challenge()
            challenge = Validation(file_name, content)
            loop = await self.store.put(loop.changed(validation=dataclasses.asdict(challenge)))
        if method == "dns":
            result = await check_dns(loop.url, challenge.content)
        elif method == "file":
            result = await check_file(self.client, loop.url, challenge.file_name,
                                      challenge.content, max_bytes=self.validation_max_bytes,
                                      timeout_s=self.validation_timeout_s)
        else:
            raise InputError("method", "must be 'file' or 'dns'")
        if result.valid:
            proven = dataclasses.replace(challenge, validated_at=time.time(),
                                         validated_url=loop.url,
                                         method="dns" if method == "dns" else "file")
            loop = await self.store.put(loop.changed(validation=dataclasses.asdict(proven)))
        return loop, result

    async def test_call(self, loop_id: str, encoding: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send the user's own data now (signed, SSRF-guarded); report what came back.

        Allowed before validation because nothing from a profile is sent: only ``data``.
        """
        loop = self.get(loop_id)
        body, content_type = encode(encoding, [data])
        webhook_id = TEST_PREFIX + _secrets.token_hex(12)
        now = time.time()
        headers = dict(webhook_headers(webhook_id, int(now), body,
                                       [s for s in loop.secrets if s.active(now)]))
        headers["Content-Type"] = content_type
        try:
            response = await self.client.post(loop.url, body, headers, min(loop.timeout_s, 30.0))
        except (SsrfRefused, InvalidUrl) as exc:
            raise InputError("url", f"refused: {exc}") from None
        except DeliveryError as exc:
            return {"ok": False, "error_class": type(exc).__name__, "error": str(exc),
                    "status": getattr(exc, "status", None), "webhook_id": webhook_id}
        return {"ok": 200 <= response.status < 300, "status": response.status,
                "latency_ms": round(response.latency_s * 1000, 1),
                "headers": dict(response.headers),
                "body": response.body[:SNIPPET_BYTES].decode("utf-8", "replace"),
                "webhook_id": webhook_id}

    # -- history ---------------------------------------------------------------------------
    async def attempts(self, loop_id: str, limit: int) -> builtins.list[dict[str, Any]]:
        self.get(loop_id)
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: tail(self.kafka, self.topics.attempts,
                               lambda d: d.get("loop_id") == loop_id, limit, key=loop_id.encode()))

    async def redrive(self, loop_id: str | None, since_ms: int | None, until_ms: int | None,
                      dry_run: bool, allowed: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """Put matching dead letters back on fl.deliveries (see :mod:`streams.ops.redrive`);
        with ``allowed``, only those of loop ids it accepts."""
        if loop_id is not None:
            self.get(loop_id)
        report = await asyncio.get_running_loop().run_in_executor(
            None, lambda: redrive(self.kafka, self.topics, loop_id, since_ms, until_ms, dry_run,
                                  allowed=allowed))
        return {**report.as_dict(), "dry_run": dry_run}

    async def invalid(self, topic: str | None, reason: str | None,
                      limit: int) -> builtins.list[dict[str, Any]]:
        """The newest fl.invalid records (see :mod:`streams.ops.invalid`)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: recent_invalid(self.kafka, self.topics, topic, reason, limit))

    async def replay_invalid(self, topic: str | None, reason: str | None, since_ms: int | None,
                             until_ms: int | None, dry_run: bool) -> dict[str, Any]:
        """Write matching fl.invalid records back to their source topics."""
        report = await asyncio.get_running_loop().run_in_executor(
            None, lambda: replay_invalid(self.kafka, self.topics, topic, reason, since_ms,
                                         until_ms, dry_run))
        return {**report.as_dict(), "dry_run": dry_run}

    async def dead_letters(self, loop_id: str | None, limit: int,
                           allowed: Callable[[str], bool] | None = None) -> builtins.list[dict[str, Any]]:
        """The newest dead letters of ``loop_id`` (None: every loop ``allowed`` accepts)."""
        def match(d: dict[str, Any]) -> bool:
            found = d.get("loop_id")
            return ((loop_id is None or found == loop_id)
                    and (allowed is None or (isinstance(found, str) and allowed(found))))

        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: tail(self.kafka, self.topics.dead, match, limit))
