"""Faust's monitor without its per-event bookkeeping.

Faust adds its :class:`~faust.sensors.Monitor` to every app as a sensor: for every message and
every stream event it counts, stamps times and keeps per-topic and per-stream tallies (and for
every table read and write, every send), which only Faust's own web views read. The worker
serves its metrics from Prometheus counters and keeps Faust's web server off, and of the
monitor it uses two mappings: the end and committed offsets per partition (``fl_consumer_lag``,
:mod:`streams.worker.agents`), which Faust fills outside the per-event path. So the per-event
hooks are no-ops here; the per-partition and per-rebalance ones stay Faust's.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from faust.sensors import Monitor

__all__ = ["LagMonitor"]


class LagMonitor(Monitor):
    """:class:`~faust.sensors.Monitor` keeping partition offsets, not per-event statistics."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any,
                           event: Any) -> Optional[Dict[str, Any]]:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Optional[Dict[str, Any]] = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: Any, key: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int,
                          valsize: int) -> Any:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass
