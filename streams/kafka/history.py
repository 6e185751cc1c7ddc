"""Read the recent tail of the attempt log and the dead letters, filtered by loop.

``fl.attempts`` is keyed by loop id, so one loop's attempts share a partition; dead letters
are keyed ``loop|profile`` and spread over all partitions. Both reads look at a bounded window
at the end of the partitions (``scan``), newest first.
"""
from __future__ import annotations

from typing import Any, Callable

import orjson

from streams.kafka.clients import read_window
from streams.config.settings import KafkaConfig

__all__ = ["tail"]


def tail(kafka: KafkaConfig, topic: str, match: Callable[[dict[str, Any]], bool], limit: int,
         scan: int = 20000, key: bytes | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Up to ``limit`` newest JSON records of ``topic`` that ``match``; with ``key``, only the
    partition that key maps to is read."""
    found: list[tuple[int, dict[str, Any]]] = []
    for msg in read_window(kafka, topic, last=scan, key=key, timeout_s=timeout_s):
        try:
            doc = orjson.loads(msg.value() or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict) and match(doc):
            found.append((msg.timestamp()[1], doc))
    found.sort(key=lambda item: item[0], reverse=True)
    return [doc for _, doc in found[:limit]]

