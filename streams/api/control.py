"""The control plane's operations, shared by the HTTP API and the ``loops`` CLI.

Loop state lives only in ``fl.loops``; every write returns once this process's registry shows
it (read-your-writes). Secrets are shown once (on create and rotate) and masked elsewhere.
"""
from __future__ import annotations

import asyncio
import secrets as _secrets
import time
from typing import Any

from senders.client import HttpClient
from senders.encoding import encode
from senders.errors import DeliveryError, InvalidUrl, SsrfRefused
from senders.model import SigningSecret
from senders.ownership import OwnershipResult, candidate_urls, check_dns, check_file, new_challenge
from senders.signing import generate_secret, webhook_headers

from streams.kafka.loopstore import LoopStore
from streams.ops.invalid import recent as recent_invalid, replay as replay_invalid
from streams.ops.redrive import redrive
from streams.config.settings import KafkaConfig, SenderConfig
from streams.kafka.topics import Topics
from streams.kafka.history import tail
from streams.api.inputs import InputError

__all__ = ["ControlPlane", "NotFound", "public_view"]

SNIPPET_BYTES = 1024
TEST_PREFIX = "test_"


class NotFound(LookupError):
    """No loop with that id."""


def _mask(secret: str) -> str:
    return f"whsec_…{secret[-4:]}"


def public_view(loop: dict[str, Any], reveal_secrets: bool = False) -> dict[str, Any]:
    """A loop as the API shows it: masked secrets, the challenge with the URLs it may sit at."""
    doc = {k: v for k, v in loop.items() if k not in ("secrets", "validation")}
    now = time.time()
    doc["secrets"] = [{"secret": s["secret"] if reveal_secrets else _mask(s["secret"]),
                       "expires_at": s.get("expires_at")}
                      for s in loop.get("secrets", [])
                      if s.get("expires_at") is None or s["expires_at"] > now]
    validation = dict(loop.get("validation") or {})
    validated = bool(validation.get("validated_at")) and validation.get("validated_url") == loop["url"]
    doc["validation"] = {
        "status": "validated" if validated else "pending",
        "method": validation.get("method") if validated else None,
        "validated_at": validation.get("validated_at") if validated else None,
        "file_name": validation.get("file_name"),
        "content": validation.get("content"),
        "urls": candidate_urls(loop["url"], validation["file_name"]) if validation.get("file_name") else [],
        "dns_txt": f"feedbackloop-verification={validation.get('content')}",
    }
    return doc


class ControlPlane:
    """Create, read, change and check loops."""

    def __init__(self, store: LoopStore, client: HttpClient, defaults: SenderConfig,
                 kafka: KafkaConfig, topics: Topics, validation_max_bytes: int = 4096,
                 validation_timeout_s: float = 10.0) -> None:
        self.store = store
        self.client = client
        self.defaults = defaults
        self.kafka = kafka
        self.topics = topics
        self.validation_max_bytes = validation_max_bytes
        self.validation_timeout_s = validation_timeout_s

    # -- reads -----------------------------------------------------------------------------
    def get(self, loop_id: str) -> dict[str, Any]:
        loop = self.store.get(loop_id)
        if loop is None:
            raise NotFound(loop_id)
        return loop

    def list(self, database: str | None = None, collection: str | None = None,
             event: str | None = None) -> list[dict[str, Any]]:
        """Loops of a database and/or collection and/or event type (exact matches), by id."""
        out = [loop for loop in self.store.all()
               if (database is None or loop.get("database") == database)
               and (collection is None or loop.get("collection") == collection)
               and (event is None or event in loop.get("events", ()))]
        return sorted(out, key=lambda loop: loop["id"])

    # -- writes ----------------------------------------------------------------------------
    def _check_target(self, url: str) -> None:
        """Refuse now what the SSRF guard would refuse at connect time (IP literals in any
        notation); host names are checked when resolved."""
        try:
            self.client.target(url)
        except (InvalidUrl, SsrfRefused) as exc:
            raise InputError("url", str(exc)) from None

    async def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        self._check_target(fields["url"])
        file_name, content = new_challenge()
        d = self.defaults
        loop = {
            "id": f"lp_{_secrets.token_hex(8)}",
            "url": fields["url"], "events": fields["events"],
            "database": fields.get("database"), "collection": fields.get("collection"),
            "encoding": fields.get("encoding", "json"), "fields": fields.get("fields"),
            "batch": fields.get("batch", {"max_events": 100, "max_wait_ms": 1000}),
            "rate_per_s": fields.get("rate_per_s", d.rate_per_s),
            "max_in_flight": fields.get("max_in_flight", d.max_in_flight),
            "timeout_s": fields.get("timeout_s", d.timeout_s),
            "secrets": [{"secret": fields.get("secret") or generate_secret(), "expires_at": None}],
            "status": "enabled", "disabled_reason": None,
            "validation": {"file_name": file_name, "content": content, "validated_at": None,
                           "validated_url": None, "method": None},
        }
        return await self.store.put(loop)

    async def patch(self, loop_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        loop = dict(self.get(loop_id))
        if "url" in fields:
            self._check_target(fields["url"])
        if "url" in fields and fields["url"] != loop["url"]:
            validation = dict(loop["validation"])
            validation.update(validated_at=None, validated_url=None, method=None)
            loop["validation"] = validation
        if fields.get("status") == "enabled":
            loop["disabled_reason"] = None
        elif fields.get("status") == "disabled":
            loop["disabled_reason"] = "disabled by its owner"
        loop.update(fields)
        return await self.store.put(loop)

    async def delete(self, loop_id: str) -> None:
        self.get(loop_id)
        await self.store.delete(loop_id)

    async def rotate_secret(self, loop_id: str, grace_s: float) -> tuple[dict[str, Any], str]:
        """A new first secret; the current ones keep signing for ``grace_s`` seconds."""
        loop = dict(self.get(loop_id))
        new = generate_secret()
        until = time.time() + grace_s
        kept = [{"secret": s["secret"],
                 "expires_at": until if s.get("expires_at") is None else min(s["expires_at"], until)}
                for s in loop.get("secrets", [])
                if s.get("expires_at") is None or s["expires_at"] > time.time()]
        loop["secrets"] = [{"secret": new, "expires_at": None}, *kept]
        return await self.store.put(loop), new

    # -- checks ----------------------------------------------------------------------------
    async def validate(self, loop_id: str, method: str = "file") -> tuple[dict[str, Any], OwnershipResult]:
        """Check ownership now; on success the loop is marked validated for its current URL."""
        loop = self.get(loop_id)
        challenge = loop["validation"]
        if method == "dns":
            result = await check_dns(loop["url"], challenge["content"])
        elif method == "file":
            result = await check_file(self.client, loop["url"], challenge["file_name"],
                                      challenge["content"], max_bytes=self.validation_max_bytes,
                                      timeout_s=self.validation_timeout_s)
        else:
            raise InputError("method", "must be 'file' or 'dns'")
        if result.valid:
            validation = dict(challenge)
            validation.update(validated_at=time.time(), validated_url=loop["url"], method=method)
            loop = await self.store.put({**loop, "validation": validation})
        return loop, result

    async def test_call(self, loop_id: str, encoding: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send the user's own data now (signed, SSRF-guarded); report what came back.

        Allowed before validation because nothing from a profile is sent: only ``data``.
        """
        loop = self.get(loop_id)
        body, content_type = encode(encoding, [data])
        webhook_id = TEST_PREFIX + _secrets.token_hex(12)
        secrets = [SigningSecret(s["secret"], s.get("expires_at")) for s in loop["secrets"]]
        headers = dict(webhook_headers(webhook_id, int(time.time()), body,
                                       [s for s in secrets if s.active(time.time())]))
        headers["Content-Type"] = content_type
        try:
            response = await self.client.post(loop["url"], body, headers,
                                              min(float(loop.get("timeout_s", 10)), 30.0))
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
    async def attempts(self, loop_id: str, limit: int) -> list[dict[str, Any]]:
        self.get(loop_id)
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: tail(self.kafka, self.topics.attempts,
                               lambda d: d.get("loop_id") == loop_id, limit, key=loop_id.encode()))

    async def redrive(self, loop_id: str | None, since_ms: int | None, until_ms: int | None,
                      dry_run: bool) -> dict[str, Any]:
        """Put matching dead letters back on fl.deliveries (see :mod:`streams.ops.redrive`)."""
        if loop_id is not None:
            self.get(loop_id)
        report = await asyncio.get_running_loop().run_in_executor(
            None, lambda: redrive(self.kafka, self.topics, loop_id, since_ms, until_ms, dry_run))
        return {**report.as_dict(), "dry_run": dry_run}

    async def invalid(self, topic: str | None, reason: str | None,
                      limit: int) -> list[dict[str, Any]]:
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

    async def dead_letters(self, loop_id: str | None, limit: int) -> list[dict[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: tail(self.kafka, self.topics.dead,
                               lambda d: loop_id is None or d.get("loop_id") == loop_id, limit))
