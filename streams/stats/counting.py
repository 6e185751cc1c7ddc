"""Counting the pipeline's records into one-minute deltas (pure: no Kafka).

A record counts in the minute its Kafka timestamp falls in. Each record adds to a few
*dimensions*, tuples of (kind, value) pairs flattened:

- ``()`` everything; ``("type", t)``;
- ``("db", d)``, ``("db", d, "type", t)``, ``("db", d, "coll", c)``, ``("db", d, "coll", c,
  "type", t)``;
- ``("loop", id)``, ``("loop", id, "type", t)`` for routed, delivered, retried and dead;
- ``("db", d, "mailing", m)`` and ``("db", d, "mailing", m, "link", l)`` for opens and clicks.

Metrics: ``in`` (raw events read), ``invalid``, ``routed`` (deliveries made), ``delivered``
(2xx), ``retried`` (attempts that will be retried), ``errors`` (attempts that were not 2xx),
``dead`` (dead letters), ``opens``/``clicks`` and their uniques, ``h<i>`` (delivery latency
histogram: event in -> 2xx, bucket *i* holds latencies up to ``1.1**i`` ms) and ``last_ms``
(the newest delivery; merged by max, every other metric by sum).

Uniques (``u1m_opens``, ``u1h_opens``, ``u1d_opens``, same for clicks) count a profile (else
recipient) the first time it is seen in that minute, hour or day. Raw events are keyed by
profile, so one profile's events are in one partition: the per-partition sets are disjoint
and their counts add up across partitions and, level by level, across the minutes of an hour
or a day.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Final, Iterable

import orjson

__all__ = ["LEVELS", "Dim", "Tally", "latency_bucket", "percentile", "window_start"]

Dim = tuple[str, ...]
#: the windows: name -> length in ms (tumbling, aligned to the Unix epoch, so days are UTC)
LEVELS: Final[dict[str, int]] = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
_LOG_BASE: Final = math.log(1.1)
_MAX_BUCKET: Final = 200  # 1.1**200 ms is about 6 years


def window_start(ts_ms: int, level: str) -> int:
    size = LEVELS[level]
    return ts_ms - ts_ms % size


def latency_bucket(ms: float) -> int:
    """The histogram bucket of a latency: the smallest *i* with ``ms <= 1.1**i``."""
    if ms <= 1:
        return 0
    return min(_MAX_BUCKET, math.ceil(math.log(ms) / _LOG_BASE - 1e-9))


def percentile(metrics: dict[str, float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of the latency histogram in ``metrics``, in ms (the upper
    bound of the bucket it falls in: at most 10 % high), or None without deliveries."""
    buckets = sorted((int(k[1:]), n) for k, n in metrics.items() if k[0] == "h" and k[1:].isdigit())
    total = sum(n for _, n in buckets)
    if not total:
        return None
    rank = q * total
    seen = 0.0
    for i, n in buckets:
        seen += n
        if seen >= rank:
            return round(1.1 ** i, 1)
    return round(1.1 ** buckets[-1][0], 1)


_SCOPES: dict[tuple[Any, Any, str], tuple[Dim, ...]] = {}


def _scopes(database: Any, collection: Any, event_type: str) -> tuple[Dim, ...]:
    """The dims of an event of ``database``/``collection``/``event_type`` (memoised: a few
    hundred combinations at most, and building them was most of the per-record cost)."""
    key = (database, collection, event_type)
    found = _SCOPES.get(key)
    if found is None:
        if len(_SCOPES) > 100_000:
            _SCOPES.clear()
        found = _SCOPES[key] = tuple(_build_scopes(database, collection, event_type))
    return found


_LOOP_DIMS: dict[tuple[str, str], tuple[Dim, Dim]] = {}


def _loop_dims(loop_id: str, event_type: str) -> tuple[Dim, Dim]:
    key = (loop_id, event_type)
    found = _LOOP_DIMS.get(key)
    if found is None:
        if len(_LOOP_DIMS) > 100_000:
            _LOOP_DIMS.clear()
        found = _LOOP_DIMS[key] = (("loop", loop_id), ("loop", loop_id, "type", event_type))
    return found


def _build_scopes(database: Any, collection: Any, event_type: str) -> list[Dim]:
    dims: list[Dim] = [(), ("type", event_type)]
    if isinstance(database, str):
        dims += [("db", database), ("db", database, "type", event_type)]
        if isinstance(collection, str):
            dims += [("db", database, "coll", collection),
                     ("db", database, "coll", collection, "type", event_type)]
    return dims


class Tally:
    """Minute deltas since the last :meth:`take`, and the unique-visitor sets."""

    def __init__(self) -> None:
        #: minute start -> dim -> metric -> value
        self.deltas: dict[int, dict[Dim, dict[str, float]]] = {}
        #: (topic, partition) -> (level, window start) -> seen keys
        self._seen: dict[tuple[str, int], dict[tuple[str, int], set[tuple[Dim, str]]]] = (
            defaultdict(dict))

    # -- the records -------------------------------------------------------------------------
    def _add(self, ts_ms: int, dims: Iterable[Dim], metric: str, n: float = 1) -> None:
        minute_start = ts_ms - ts_ms % 60_000
        minute = self.deltas.get(minute_start)
        if minute is None:
            minute = self.deltas[minute_start] = {}
        for dim in dims:
            row = minute.get(dim)
            if row is None:
                minute[dim] = {metric: n}
            else:
                row[metric] = row.get(metric, 0) + n

    def raw(self, tp: tuple[str, int], ts_ms: int, value: bytes | None,
            count: bool = True) -> None:
        """A raw event (anything not an object with a ``type`` is left to ``invalid``); with
        ``count=False`` only the unique sets learn it (rebuilding them after a rebalance)."""
        try:
            event = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return
        database = event.get("database")
        if count:
            self._add(ts_ms, _scopes(database, event.get("collection"), event_type), "in")
        if event_type != "open" and event_type != "click":
            return
        mailing = event.get("mailing")
        if not isinstance(database, str) or not isinstance(mailing, str):
            return
        metric = "opens" if event_type == "open" else "clicks"
        who = str(event.get("profile") or event.get("recipient") or event.get("id"))
        dims: list[Dim] = [("db", database, "mailing", mailing)]
        link = event.get("link")
        if event_type == "click" and isinstance(link, str):
            dims.append(("db", database, "mailing", mailing, "link", link))
        if count:
            self._add(ts_ms, dims, metric)
        windows = self._seen[tp]
        for level, size in LEVELS.items():
            key = (level, ts_ms - ts_ms % size)
            seen = windows.get(key)
            if seen is None:
                seen = windows[key] = set()
            for dim in dims:
                mark = (dim, who)
                if mark not in seen:
                    seen.add(mark)
                    if count:
                        self._add(ts_ms, (dim,), f"u{level}_{metric}")

    def invalid(self, ts_ms: int, source_topic_type: str | None, value: bytes | None) -> None:
        """An ``fl.invalid`` record; its database and type when its value is a JSON event."""
        event: Any = None
        try:
            event = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            pass
        if not isinstance(event, dict):
            event = {}
        event_type = event.get("type") if isinstance(event.get("type"), str) else None
        self._add(ts_ms, _scopes(event.get("database"), event.get("collection"),
                                 event_type or source_topic_type or "unknown"), "invalid")

    def delivery(self, ts_ms: int, value: bytes | None, metric: str) -> None:
        """A delivery record: ``routed`` (fl.deliveries) or ``dead`` (fl.deliveries.dead)."""
        try:
            d = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if not isinstance(d, dict) or not isinstance(d.get("loop_id"), str):
            return
        payload = d.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        event_type = str(d.get("event_type") or "unknown")
        self._add(ts_ms, _scopes(payload.get("database"), payload.get("collection"), event_type),
                  metric)
        self._add(ts_ms, _loop_dims(d["loop_id"], event_type), metric)

    def attempt(self, ts_ms: int, value: bytes | None) -> None:
        """An ``fl.attempts`` record: delivered (with its latency), retried, errors."""
        try:
            a = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if not isinstance(a, dict) or not isinstance(a.get("loop_id"), str):
            return
        event_type = str(a.get("event_type") or "unknown")
        loop_dims = _loop_dims(a["loop_id"], event_type)
        scopes = _scopes(a.get("database"), a.get("collection"), event_type)
        outcome = a.get("outcome")
        if outcome == "delivered":
            metrics = ["delivered"]
            source_ms = a.get("source_ts_ms")
            if isinstance(source_ms, (int, float)):
                at_ms = a.get("at_ms") if isinstance(a.get("at_ms"), (int, float)) else ts_ms
                metrics.append(f"h{latency_bucket(max(0.0, at_ms - source_ms))}")
            for metric in metrics:
                self._add(ts_ms, scopes, metric)
                self._add(ts_ms, loop_dims, metric)
            self._last(ts_ms, loop_dims)
            return
        metrics = ["errors", "retried"] if outcome == "retry" else ["errors"]
        for metric in metrics:
            self._add(ts_ms, scopes, metric)
            self._add(ts_ms, loop_dims, metric)

    def _last(self, ts_ms: int, dims: Iterable[Dim]) -> None:
        minute = self.deltas.setdefault(ts_ms - ts_ms % 60_000, {})
        for dim in dims:
            row = minute.setdefault(dim, {})
            row["last_ms"] = max(row.get("last_ms", 0), ts_ms)

    # -- state ----------------------------------------------------------------------------------
    def take(self) -> dict[int, dict[Dim, dict[str, float]]]:
        """The deltas since the last call (and forget them)."""
        deltas, self.deltas = self.deltas, {}
        return deltas

    def forget(self, tps: Iterable[tuple[str, int]]) -> None:
        """Drop the unique sets of partitions this process no longer reads."""
        for tp in tps:
            self._seen.pop(tp, None)

    def prune(self, now_ms: int) -> None:
        """Drop unique sets of windows that ended (a late record then counts as new)."""
        for windows in self._seen.values():
            for level, start in list(windows):
                if start + LEVELS[level] + 60_000 < now_ms:
                    del windows[(level, start)]


def encode_deltas(deltas: dict[int, dict[Dim, dict[str, float]]],
                  max_rows: int = 2000) -> list[tuple[bytes, bytes]]:
    """``fl.stats`` records (key, value) for ``deltas``: per minute, rows in chunks."""
    out = []
    for start, dims in deltas.items():
        rows = [[list(dim), metrics] for dim, metrics in dims.items()]
        for i in range(0, len(rows), max_rows):
            out.append((str(start).encode(),
                        orjson.dumps({"start_ms": start, "rows": rows[i:i + max_rows]})))
    return out
