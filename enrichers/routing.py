"""Which loops receive an event, and the stable id of each delivery.

``LoopIndex`` is rebuilt whenever ``fl.loops`` changes and read once per event, so the work is
done at build time: loops that may not receive anything (``Loop.deliverable`` is false:
disabled, or URL ownership not proven for the current URL) and loops that asked for
summaries instead of events are left out and the rest are
indexed by ``(event type, database)``.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from schemas.loop import Loop

from .fields import select_fields

__all__ = ["DELIVERY_NAMESPACE", "LoopIndex", "delivery_id", "in_scope", "replay_delivery_id",
           "route"]

DELIVERY_NAMESPACE: Final = uuid.UUID("d7889a6f-7d5f-4cf7-8ef0-d40c05d47586")
"""uuid5 namespace of delivery ids. Never change it: receivers de-duplicate by these ids."""
_NAMESPACE_BYTES: Final = DELIVERY_NAMESPACE.bytes


class LoopIndex:
    """The deliverable loops, indexed for ``matching``: nothing from a profile ever goes to a
    disabled loop or to a URL whose ownership is not proven."""

    def __init__(self, loops: Iterable[Loop]) -> None:
        self._index: dict[tuple[str, str | None], list[Loop]] = {}
        self._count = 0
        for loop in loops:
            # a summary loop gets one call per window (streams/stats/summary.py), not events
            if not loop.deliverable or loop.delivery == "summary":
                continue
            self._count += 1
            for event_type in dict.fromkeys(loop.events):
                self._index.setdefault((event_type, loop.database), []).append(loop)

    def __len__(self) -> int:
        """The number of deliverable loops."""
        return self._count

    def matching(self, event_type: str, database: str | None,
                 collection: str | None) -> list[Loop]:
        """The deliverable loops that list ``event_type`` and whose ``database`` and
        ``collection`` are each ``None`` (any) or equal to the event's.

        Loops for any database come first, then the database's own, each in the order given.
        """
        candidates = self._index.get((event_type, None), [])
        if database is not None:
            candidates = candidates + self._index.get((event_type, database), [])
        return [loop for loop in candidates
                if loop.collection is None or loop.collection == collection]


def in_scope(loop: Loop, event_type: str, database: str | None, collection: str | None) -> bool:
    """Whether an event of this type, database and collection is what ``loop`` asked for
    (its ``events``, and ``database``/``collection`` each ``None`` = any), eligible or not:
    :meth:`LoopIndex.matching` for one loop."""
    return (event_type in loop.events and loop.database in (None, database)
            and loop.collection in (None, collection))


def delivery_id(event_id: str, loop_id: str) -> str:
    """The delivery id (``webhook-id``) of ``event_id`` to ``loop_id``: a uuid5 string, the same
    for the same pair on every worker, retry and replay.

    Equal to ``str(uuid.uuid5(DELIVERY_NAMESPACE, f"{loop_id}\\x00{event_id}"))`` (a test
    holds it to that), computed without the ``UUID`` object: a third of the cost, once per
    delivery."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{loop_id}\x00{event_id}".encode(),
                                    usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def replay_delivery_id(event_id: str, loop_id: str, replay_id: str) -> str:
    """A fresh delivery id for ``event_id`` to ``loop_id`` in replay ``replay_id`` (``--new-ids``):
    different from :func:`delivery_id`, the same every time that replay sends it (a replay
    resumed after a crash repeats its ids)."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{loop_id}\x00{event_id}\x00{replay_id}"))


def route(event: Mapping[str, Any], payload: Mapping[str, Any],
          index: LoopIndex) -> list[tuple[Loop, dict[str, Any]]]:
    """``(loop, payload for that loop)`` for every loop matching ``event``.

    Each payload is ``payload`` with the loop's ``fields`` selection applied (``select_fields``);
    ``payload`` itself is not modified.
    """
    loops = index.matching(event["type"], event.get("database"), event.get("collection"))
    return [(loop, select_fields(payload, loop.fields)) for loop in loops]
