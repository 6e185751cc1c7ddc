"""Loops declared in the YAML file become loop definitions on ``fl.loops`` at start-up.

YAML is the source of truth for what it declares (URL, events, filters, encoding, limits);
runtime state (secrets generated earlier, a disabled status, a validation) is kept unless the
URL changed, which clears validation as for any loop.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from streams.kafka.loopstore import LoopStore
from streams.config.settings import LoopDecl, SenderConfig

__all__ = ["definition_from_decl", "publish_declared"]

log = logging.getLogger(__name__)

_RUNTIME_KEYS = ("updated_at", "version", "created_at")


def new_secret() -> str:
    from senders.signing import generate_secret

    return generate_secret()


def new_challenge() -> dict[str, Any]:
    from senders.ownership import new_challenge as challenge

    file_name, content = challenge()
    return {"file_name": file_name, "content": content,
            "validated_at": None, "validated_url": None, "method": None}


def definition_from_decl(decl: LoopDecl, defaults: SenderConfig,
                         existing: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = dict(existing or {})
    url_changed = existing is not None and existing.get("url") != decl.url
    doc.update({
        "id": decl.id, "url": decl.url, "events": list(decl.events),
        "database": decl.database, "collection": decl.collection, "encoding": decl.encoding,
        "fields": list(decl.fields) if decl.fields is not None else None,
        "batch": {"max_events": decl.batch.max_events, "max_wait_ms": decl.batch.max_wait_ms},
        "rate_per_s": decl.rate_per_s or defaults.rate_per_s,
        "max_in_flight": decl.max_in_flight or defaults.max_in_flight,
        "timeout_s": decl.timeout_s or defaults.timeout_s,
    })
    if decl.secret is not None:
        doc["secrets"] = [{"secret": decl.secret.reveal(), "expires_at": None}]
    elif not doc.get("secrets"):
        doc["secrets"] = [{"secret": new_secret(), "expires_at": None}]
    doc.setdefault("status", "enabled")
    doc.setdefault("disabled_reason", None)
    if url_changed or not doc.get("validation"):
        doc["validation"] = new_challenge()
    if decl.trusted:
        validation = dict(doc["validation"])
        if validation.get("method") != "operator" or validation.get("validated_url") != decl.url:
            validation.update(method="operator", validated_at=time.time(), validated_url=decl.url)
        doc["validation"] = validation
    return doc


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return _declared_part(a) == _declared_part(b)


def _declared_part(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _RUNTIME_KEYS}


async def publish_declared(store: LoopStore, decls: tuple[LoopDecl, ...],
                           defaults: SenderConfig) -> int:
    """Write every declared loop that is new or changed; returns how many were written."""
    written = 0
    for decl in decls:
        existing = store.get(decl.id)
        doc = definition_from_decl(decl, defaults, existing)
        if existing is not None and _same(existing, doc):
            continue
        await store.put(doc)
        written += 1
        log.info("published declared loop %s", decl.id)
    return written
