"""Loops declared in the YAML file become loops on ``fl.loops`` at start-up.

YAML is the source of truth for what it declares (URL, events, filters, encoding, limits); what
it leaves out takes the loop schema's default. Runtime state (secrets generated earlier, a
disabled status, a validation) is kept unless the URL changed, which clears validation as for
any loop.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from schemas.loop import Loop
from senders.ownership import new_challenge
from senders.signing import generate_secret

from streams.config.settings import LoopDecl
from streams.kafka.loopstore import LoopStore

__all__ = ["definition_from_decl", "publish_declared"]

log = logging.getLogger(__name__)

_STAMPS = ("updated_at", "version", "created_at")


def _challenge() -> dict[str, Any]:
    file_name, content = new_challenge()
    return {"file_name": file_name, "content": content,
            "validated_at": None, "validated_url": None, "method": None}


def definition_from_decl(decl: LoopDecl, existing: Loop | None) -> Loop:
    """The loop ``decl`` describes, keeping ``existing``'s runtime state (see module doc)."""
    now = time.time()
    if existing is not None:
        doc = existing.to_doc()
        # a setting removed from the YAML goes back to its default
        for key in ("encoding", "batch", "rate_per_s", "max_in_flight", "timeout_s", "delivery",
                    "summary_every"):
            doc.pop(key, None)
    else:
        doc = {"created_at": now, "updated_at": now, "version": 0}
    url_changed = existing is not None and existing.url != decl.url
    doc.update(decl.declared())
    if decl.secret is not None:
        doc["secrets"] = [{"secret": decl.secret.reveal(), "expires_at": None}]
    elif not doc.get("secrets"):
        doc["secrets"] = [{"secret": generate_secret(), "expires_at": None}]
    doc.setdefault("status", "enabled")
    doc.setdefault("disabled_reason", None)
    if url_changed or not doc.get("validation"):
        doc["validation"] = _challenge()
    if decl.trusted:
        validation = dict(doc["validation"])
        if validation.get("method") != "operator" or validation.get("validated_url") != decl.url:
            validation.update(method="operator", validated_at=now, validated_url=decl.url)
        doc["validation"] = validation
    return Loop.from_doc(doc)


def _declared_part(loop: Loop) -> dict[str, Any]:
    return {k: v for k, v in loop.to_doc().items() if k not in _STAMPS}


async def publish_declared(store: LoopStore, decls: tuple[LoopDecl, ...]) -> int:
    """Write every declared loop that is new or changed; returns how many were written."""
    written = 0
    for decl in decls:
        existing = store.get(decl.id)
        loop = definition_from_decl(decl, existing)
        if existing is not None and _declared_part(existing) == _declared_part(loop):
            continue
        await store.put(loop)
        written += 1
        log.info("published declared loop %s", decl.id)
    return written
