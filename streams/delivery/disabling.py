"""Disable a loop automatically (410 Gone, or failing continuously) with an operational event."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from schemas.loop import Loop

from streams.kafka.loopstore import LoopStore
from streams.metrics import PipelineMetrics
from streams.kafka.output import Output
from streams.kafka.records import now_ms
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics

__all__ = ["LoopDisabler"]

log = logging.getLogger(__name__)


class LoopDisabler:
    """Writes ``status: disabled`` to fl.loops (once per loop at a time) and an event to
    ``fl.operations``; the sender's view then dead-letters the loop's deliveries."""

    def __init__(self, loops: CompactedView[Loop], store: LoopStore, output: Output,
                 topics: Topics, metrics: PipelineMetrics) -> None:
        self.loops = loops
        self.store = store
        self.output = output
        self.topics = topics
        self.metrics = metrics
        self.tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()

    def disable_soon(self, loop_id: str, kind: str, reason: str) -> None:
        """``kind`` labels the metric (``gone`` | ``failing``); ``reason`` is for people."""
        if loop_id in self._busy:
            return
        self._busy.add(loop_id)
        task = asyncio.create_task(self._disable(loop_id, kind, reason))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _disable(self, loop_id: str, kind: str, reason: str) -> None:
        try:
            loop = self.loops.get(loop_id)
            if loop is None or loop.status != "enabled":
                return
            await self.store.put(loop.changed(status="disabled", disabled_reason=reason))
            event = {"type": "loop_disabled", "loop_id": loop_id, "reason": reason,
                     "at_ms": now_ms()}
            self.output.send(self.topics.operations, loop_id.encode(), orjson.dumps(event))
            self.metrics.loops_disabled.labels(kind).inc()
            log.warning("loop %s disabled: %s", loop_id, reason)
        except Exception:
            log.exception("could not disable loop %s", loop_id)
        finally:
            self._busy.discard(loop_id)
