"""Summary delivery: one signed call per window instead of a call per event.

A loop with ``delivery: summary`` gets no per-event deliveries (the router leaves it out);
instead, ``delay_s`` after each ``summary_every`` window (UTC, tumbling) ends, one delivery
is written to ``fl.deliveries`` holding the window's counts in the loop's scope: events in per
event type it asked for and, for a loop of one database, opens and clicks (total and unique)
per mailing and link. The sender delivers it like any delivery: signed, retried, only to a
validated URL, dead-lettered when it cannot be. Its id (``webhook-id``) is derived from the
loop and the window, so a repeat after a failover is recognisable as the same summary.

One process writes summaries: the one whose statistics aggregator reads ``fl.attempts``
partition 0 (:meth:`Aggregator.leads`). When that moves, the new leader writes the last ended
window of every summary loop once more (the same id: receivers drop the repeat).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

from enrichers.routing import delivery_id
from schemas.loop import Loop

from streams.kafka.records import delivery_key, encode, new_delivery
from streams.stats.counting import LEVELS, Dim, window_start
from streams.stats.queries import mailings
from streams.stats.view import StatsView, row_of

__all__ = ["SummaryWriter", "summary_payload"]

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, bytes], None]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_payload(view: StatsView, loop: Loop, start_ms: int) -> dict[str, Any]:
    """What a summary call of ``loop`` for the window starting at ``start_ms`` carries."""
    level = loop.summary_every
    end_ms = start_ms + LEVELS[level]
    base: Dim = ()
    if loop.database is not None:
        base = ("db", loop.database)
        if loop.collection is not None:
            base = (*base, "coll", loop.collection)
    events = {}
    for event in loop.events:
        counts = view.total(level, [(*base, "type", event)], 1, now_ms=start_ms)
        events[event] = int(counts.get("in", 0))
    routed = row_of(view.total(level, [("loop", loop.id)], 1, now_ms=start_ms), level)
    payload: dict[str, Any] = {
        "type": "summary", "event_id": f"summary:{loop.id}:{start_ms}", "window": level,
        "start": _iso(start_ms), "end": _iso(end_ms), "start_ms": start_ms, "end_ms": end_ms,
        "database": loop.database, "collection": loop.collection, "events": events,
        "total": sum(events.values()), "invalid": routed["invalid"],
    }
    if loop.database is not None and ("open" in loop.events or "click" in loop.events):
        payload["mailings"] = mailings(view, loop.database, level, now_ms=start_ms)
    return payload


class SummaryWriter:
    """Writes due summaries while ``leads()``; :meth:`run` until cancelled."""

    def __init__(self, view: StatsView, loops: Callable[[], list[Loop]], leads: Callable[[], bool],
                 send: Send, deliveries_topic: str, delay_s: float = 30.0) -> None:
        self.view = view
        self.loops = loops
        self.leads = leads
        self.send = send
        self.topic = deliveries_topic
        self.delay_s = delay_s
        #: loop id -> start of the last window written (forgotten when leadership is lost)
        self.sent: dict[str, int] = {}
        self.written = 0

    def due(self, now_ms: int) -> list[tuple[Loop, int]]:
        """(loop, window start) of every summary to write now."""
        out = []
        for loop in self.loops():
            if loop.delivery != "summary" or not loop.deliverable:
                continue
            size = LEVELS[loop.summary_every]
            start = window_start(now_ms - int(self.delay_s * 1000), loop.summary_every) - size
            if start + size <= loop.created_at * 1000:  # nothing before the loop existed
                continue
            if self.sent.get(loop.id, -1) < start:
                out.append((loop, start))
        return out

    def write_due(self, now_ms: int | None = None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        n = 0
        for loop, start in self.due(now_ms):
            payload = summary_payload(self.view, loop, start)
            event = {"id": payload["event_id"], "type": "summary", "profile": None}
            delivery = new_delivery(delivery_id(payload["event_id"], loop.id), loop.id, event,
                                    payload, payload["end_ms"])
            self.send(self.topic, delivery_key(delivery), encode(delivery))
            self.sent[loop.id] = start
            n += 1
        self.written += n
        return n

    async def run(self, every_s: float = 1.0) -> None:
        while True:
            try:
                if self.leads() and self.view.ready:
                    if self.write_due():
                        log.info("summaries written: %d so far", self.written)
                else:
                    self.sent.clear()
            except Exception as exc:  # a summary must never stop the worker
                log.warning("summary writer: %s", exc)
            await asyncio.sleep(every_s)
