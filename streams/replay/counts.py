"""What the replay lane did per replay: delivered, failed (dead-lettered), dropped (cancelled).

Each lane process counts the outcomes of the replay deliveries it handled and writes them every
second to ``fl.replays`` as ``<id>/lane/<instance>`` (one key per process, so no process
overwrites another's); :meth:`streams.replay.book.ReplayBook.status` adds them up. After a crash
the repeated deliveries are counted again: the counts are calls made, not distinct events.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Mapping

__all__ = ["ReplayCounts"]

log = logging.getLogger(__name__)


class ReplayCounts:
    """Counts per replay id and outcome; ``book`` is the :class:`ReplayBook` written to."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.instance = uuid.uuid4().hex[:12]
        self.counts: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()

    def count(self, delivery: Mapping[str, Any], outcome: str) -> None:
        """One outcome (``delivered``, ``failed``, ``dropped``) of a delivery; deliveries of
        no replay are ignored."""
        replay_id = delivery.get("replay_id")
        if replay_id is None:
            return
        counts = self.counts.setdefault(str(replay_id), {})
        counts[outcome] = counts.get(outcome, 0) + 1
        self._dirty.add(str(replay_id))

    async def publish_forever(self, every_s: float = 1.0) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every_s)
            dirty, self._dirty = self._dirty, set()
            for replay_id in dirty:
                doc = {"id": replay_id, "instance": self.instance, **self.counts[replay_id]}
                try:
                    await loop.run_in_executor(None, lambda: self.book.put(
                        replay_id, f"/lane/{self.instance}", doc, wait=False))
                except Exception as exc:  # counts are shown, not relied on: next round
                    log.info("replay counts not written: %s", exc)
                    self._dirty.add(replay_id)
