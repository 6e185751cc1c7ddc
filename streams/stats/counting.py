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
recipient, else event id) the first time it is seen in that minute, hour or day. Raw events
are keyed by profile, so one profile's events are in one partition: the per-partition sets are
disjoint and their counts add up across partitions and, level by level, across the minutes of
an hour or a day.

A field of the wrong type never becomes a dimension and never raises: a database,
collection, mailing, link or loop id counts only when it is a string, an event type that is
not one reads ``unknown``, a latency only when both times are finite numbers (the record is
counted without what it got wrong).

What is read of each record is in :mod:`streams.stats.fields`. Per record only one counter is
added to, keyed by what the record says (minute, database,
collection, type, loop, outcome, latency bucket); :meth:`Tally.take` spreads those few hundred
counters over the dimensions once per flush (the per-record work was most of the cost).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Final, Iterable

import msgspec
import orjson

from streams.stats.fields import ATTEMPT, EVENT, Event, delivery, ms, text, where

__all__ = ["LEVELS", "Dim", "Tally", "latency_bucket", "percentile", "window_start"]

Dim = tuple[str, ...]
_Marks = set[tuple[str, str, "str | None", str]]
Deltas = dict[int, dict[Dim, dict[str, float]]]
#: the windows: name -> length in ms (tumbling, aligned to the Unix epoch, so days are UTC)
LEVELS: Final[dict[str, int]] = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
_LOG_BASE: Final = math.log(1.1)
_MAX_BUCKET: Final = 200  # 1.1**200 ms is about 6 years
_MAX_BUCKET_MS: Final = 1.1 ** _MAX_BUCKET
#: the counts of a mailing or a link per minute (:attr:`Tally._marks`), in this order
_MARKS: Final = tuple(name for m in ("opens", "clicks")
                      for name in (m, *(f"u{level}_{m}" for level in LEVELS)))
_NO_LATENCY: Final = -1


def window_start(ts_ms: int, level: str) -> int:
    size = LEVELS[level]
    return ts_ms - ts_ms % size


def latency_bucket(ms: float) -> int:
    """The histogram bucket of a latency: the smallest *i* with ``ms <= 1.1**i`` (at most
    200, about 6 years, which also takes what is not a finite number)."""
    if ms <= 1:
        return 0
    if not ms < _MAX_BUCKET_MS:  # also inf and nan
        return _MAX_BUCKET
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


def _scopes(database: str | None, collection: str | None, event_type: str) -> list[Dim]:
    """The dims of an event of ``database``/``collection``/``event_type``."""
    dims: list[Dim] = [(), ("type", event_type)]
    if database is not None:
        dims += [("db", database), ("db", database, "type", event_type)]
        if collection is not None:
            dims += [("db", database, "coll", collection),
                     ("db", database, "coll", collection, "type", event_type)]
    return dims


def _bump(counter: dict[Any, int], key: Any) -> None:
    counter[key] = counter.get(key, 0) + 1


class Tally:
    """Minute deltas since the last :meth:`take`, and the unique-visitor sets."""

    def __init__(self) -> None:
        # since the last take(), each keyed by minute start first
        #: (minute, database, collection, type) -> raw events in / invalid records
        self._in: dict[tuple[int, str | None, str | None, str], int] = {}
        self._invalid: dict[tuple[int, str | None, str | None, str], int] = {}
        #: (minute, "routed" | "dead", loop, type, database, collection) -> deliveries
        self._deliveries: dict[tuple[int, str, str, str, str | None, str | None], int] = {}
        #: (minute, outcome, latency bucket or -1, loop, type, database, collection) -> attempts
        self._attempts: dict[tuple[int, str, int, str, str, str | None, str | None], int] = {}
        #: (minute, loop, type) -> the newest delivery's timestamp
        self._last: dict[tuple[int, str, str], int] = {}
        #: (minute, database, mailing, link or None) -> counts, in the order of _MARKS
        self._marks: dict[tuple[int, str, str, str | None], list[int]] = {}
        #: (topic, partition) -> (level, window start) -> seen (database, mailing, link, who)
        self._seen: dict[tuple[str, int], dict[tuple[str, int], _Marks]] = defaultdict(dict)
        #: (topic, partition) -> the minute its last event fell in, and that minute's, hour's
        #: and day's sets (most events of a partition fall in the minute of the one before)
        self._current: dict[tuple[str, int], tuple[int, _Marks, _Marks, _Marks]] = {}

    # -- the records -------------------------------------------------------------------------
    def raw(self, tp: tuple[str, int], ts_ms: int, value: bytes | None,
            count: bool = True) -> None:
        """A raw event (anything not an object with a ``type`` is left to ``invalid``); with
        ``count=False`` only the unique sets learn it (rebuilding them after a rebalance)."""
        try:
            event = EVENT.decode(value or b"")
        except msgspec.DecodeError:  # not JSON, or not an object
            return
        event_type = event.type
        if type(event_type) is not str:
            return
        database, collection = where(event.database, event.collection)
        minute = ts_ms - ts_ms % 60_000
        if count:
            _bump(self._in, (minute, database, collection, event_type))
        if database is None or (event_type != "open" and event_type != "click"):
            return
        mailing = event.mailing
        if type(mailing) is not str:
            return
        who = text(event.profile, "") or text(event.recipient, "") or text(event.id, "")
        link = event.link
        links = (None, link) if event_type == "click" and type(link) is str else (None,)
        base = 0 if event_type == "open" else 4  # the index of "opens" or "clicks" in _MARKS
        current = self._current.get(tp)
        if current is None or current[0] != minute:
            current = self._current[tp] = self._sets(tp, minute)
        _, in_minute, in_hour, in_day = current
        row: list[int] = []
        for link_key in links:
            if count:
                key = (minute, database, mailing, link_key)
                found = self._marks.get(key)
                if found is None:
                    found = self._marks[key] = [0] * 8
                row = found
                row[base] += 1
            # day >= hour >= minute (see prune): the first set that knows the mark ends it
            mark = (database, mailing, link_key, who)
            if mark in in_minute:
                continue
            in_minute.add(mark)
            if count:
                row[base + 1] += 1
            if mark in in_hour:
                continue
            in_hour.add(mark)
            if count:
                row[base + 2] += 1
            if mark not in in_day:
                in_day.add(mark)
                if count:
                    row[base + 3] += 1

    def _sets(self, tp: tuple[str, int], minute: int) -> tuple[int, _Marks, _Marks, _Marks]:
        """The seen sets of ``tp``'s minute, hour and day around ``minute`` (made if new)."""
        windows = self._seen[tp]
        found = []
        for level, size in LEVELS.items():
            key = (level, minute - minute % size)
            seen = windows.get(key)
            if seen is None:
                seen = windows[key] = set()
            found.append(seen)
        return minute, found[0], found[1], found[2]

    def invalid(self, ts_ms: int, source_topic_type: str | None, value: bytes | None) -> None:
        """An ``fl.invalid`` record; its database and type when its value is a JSON event."""
        try:
            event = EVENT.decode(value or b"")
        except msgspec.DecodeError:
            event = Event()
        event_type = text(event.type, text(source_topic_type, "unknown"))
        _bump(self._invalid, (ts_ms - ts_ms % 60_000, *where(event.database, event.collection),
                              event_type))

    def delivery(self, ts_ms: int, value: bytes | None, metric: str) -> None:
        """A delivery record: ``routed`` (fl.deliveries) or ``dead`` (fl.deliveries.dead)."""
        found = delivery(value or b"")
        if found is not None:
            _bump(self._deliveries, (ts_ms - ts_ms % 60_000, metric, *found))

    def attempt(self, ts_ms: int, value: bytes | None) -> None:
        """An ``fl.attempts`` record: delivered (with its latency), retried, errors."""
        try:
            a = ATTEMPT.decode(value or b"")
        except msgspec.DecodeError:
            return
        loop_id = a.loop_id
        if type(loop_id) is not str:
            return
        event_type = text(a.event_type, "unknown")
        minute = ts_ms - ts_ms % 60_000
        outcome = a.outcome
        bucket = _NO_LATENCY
        if outcome == "delivered":
            source_ms = ms(a.source_ts_ms)
            if source_ms is not None:
                at_ms = ms(a.at_ms)
                bucket = latency_bucket(max(0.0, (ts_ms if at_ms is None else at_ms) - source_ms))
            key = (minute, loop_id, event_type)
            if self._last.get(key, 0) < ts_ms:
                self._last[key] = ts_ms
        else:
            outcome = "retry" if outcome == "retry" else "error"
        _bump(self._attempts, (minute, outcome, bucket, loop_id, event_type, *where(a.database, a.collection)))

    # -- state ----------------------------------------------------------------------------------
    def take(self) -> Deltas:
        """The deltas since the last call (and forget them): minute start -> dim -> metric
        -> value."""
        out: Deltas = {}

        def add(minute: int, dims: Iterable[Dim], metric: str, n: float) -> None:
            rows = out.get(minute)
            if rows is None:
                rows = out[minute] = {}
            for dim in dims:
                row = rows.get(dim)
                if row is None:
                    rows[dim] = {metric: n}
                else:
                    row[metric] = row.get(metric, 0) + n

        for (minute, database, collection, event_type), n in self._in.items():
            add(minute, _scopes(database, collection, event_type), "in", n)
        for (minute, database, collection, event_type), n in self._invalid.items():
            add(minute, _scopes(database, collection, event_type), "invalid", n)
        for (minute, metric, loop_id, event_type, database, collection), n in (
                self._deliveries.items()):
            add(minute, _scopes(database, collection, event_type), metric, n)
            add(minute, _loop_dims(loop_id, event_type), metric, n)
        for (minute, outcome, bucket, loop_id, event_type, database, collection), n in (
                self._attempts.items()):
            for metric in _attempt_metrics(outcome, bucket):
                add(minute, _scopes(database, collection, event_type), metric, n)
                add(minute, _loop_dims(loop_id, event_type), metric, n)
        for (minute, loop_id, event_type), ts_ms in self._last.items():
            rows = out.setdefault(minute, {})
            for dim in _loop_dims(loop_id, event_type):
                row = rows.setdefault(dim, {})
                row["last_ms"] = max(row.get("last_ms", 0), ts_ms)
        for (minute, database, mailing, link), counts in self._marks.items():
            target: Dim = ("db", database, "mailing", mailing)
            if link is not None:
                target = (*target, "link", link)
            for metric, n in zip(_MARKS, counts):
                if n:
                    add(minute, (target,), metric, n)
        self._in, self._invalid, self._deliveries, self._attempts = {}, {}, {}, {}
        self._last, self._marks = {}, {}
        return out

    def forget(self, tps: Iterable[tuple[str, int]]) -> None:
        """Drop the unique sets of partitions this process no longer reads."""
        for tp in tps:
            self._seen.pop(tp, None)
            self._current.pop(tp, None)

    def prune(self, now_ms: int) -> None:
        """Drop unique sets of windows that ended (a late record then counts as new). A minute
        is dropped before the hour and the day it is in, so a mark in a minute's set is in
        that hour's and that day's too (:meth:`raw` relies on it)."""
        self._current.clear()
        for windows in self._seen.values():
            for level, start in list(windows):
                if start + LEVELS[level] + 60_000 < now_ms:
                    del windows[(level, start)]


def _attempt_metrics(outcome: str, bucket: int) -> list[str]:
    if outcome == "delivered":
        return ["delivered"] if bucket == _NO_LATENCY else ["delivered", f"h{bucket}"]
    return ["errors", "retried"] if outcome == "retry" else ["errors"]


def _loop_dims(loop_id: str, event_type: str) -> tuple[Dim, Dim]:
    return ("loop", loop_id), ("loop", loop_id, "type", event_type)


def encode_deltas(deltas: Deltas, max_rows: int = 2000) -> list[tuple[bytes, bytes]]:
    """``fl.stats`` records (key, value) for ``deltas``: per minute, rows in chunks."""
    out = []
    for start, dims in deltas.items():
        rows = [[list(dim), metrics] for dim, metrics in dims.items()]
        for i in range(0, len(rows), max_rows):
            out.append((str(start).encode(),
                        orjson.dumps({"start_ms": start, "rows": rows[i:i + max_rows]})))
    return out
