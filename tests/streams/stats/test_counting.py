"""Counting records into minute deltas, and reading windows back (no Kafka)."""
from __future__ import annotations

import orjson

from streams.stats.counting import Tally, encode_deltas, latency_bucket, percentile
from streams.stats.view import StatsView, row_of

T0 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000  # a UTC midnight


def event(etype: str, profile: str, mailing: str = "m1", link: str | None = None) -> bytes:
    doc = {"id": f"{etype}-{profile}", "type": etype, "database": "db", "collection": "c",
           "profile": profile, "mailing": mailing}
    if link:
        doc["link"] = link
    return orjson.dumps(doc)


def view_of(tally: Tally) -> StatsView:
    view = StatsView(None, "unused")  # type: ignore[arg-type]
    for _, value in encode_deltas(tally.take()):
        view.apply(value)
    return view


def test_uniques_per_window_level() -> None:
    tally = Tally()
    tp = ("opens", 0)
    # p1 opens twice in minute 0, once in minute 1; p2 once in minute 1
    for ts, who in ((T0 + 1000, "p1"), (T0 + 2000, "p1"), (T0 + 61_000, "p1"), (T0 + 62_000, "p2")):
        tally.raw(tp, ts, event("open", who))
    view = view_of(tally)
    dim = [("db", "db", "mailing", "m1")]
    minutes = view.series("1m", dim, 2, now_ms=T0 + 61_000)
    assert [(m["opens"], m["unique_opens"]) for m in minutes] == [(2, 1), (2, 2)]
    hour = view.series("1h", dim, 1, now_ms=T0 + 61_000)[0]
    assert (hour["opens"], hour["unique_opens"]) == (4, 2)
    assert view.series("1d", [("db", "db", "coll", "c", "type", "open")], 1,
                       now_ms=T0 + 61_000)[0]["in"] == 4


def test_rebuilt_sets_do_not_count_again() -> None:
    tally = Tally()
    tally.raw(("clicks", 1), T0 + 5, event("click", "p1", link="l1"), count=False)
    tally.raw(("clicks", 1), T0 + 6, event("click", "p1", link="l1"))
    view = view_of(tally)
    link = view.series("1d", [("db", "db", "mailing", "m1", "link", "l1")], 1, now_ms=T0)[0]
    assert (link["clicks"], link["unique_clicks"]) == (1, 0)


def test_attempts_count_delivered_retried_and_latency() -> None:
    tally = Tally()
    for outcome, latency in (("delivered", 90.0), ("delivered", 900.0), ("retry", None)):
        doc = {"loop_id": "L", "event_type": "open", "outcome": outcome, "database": "db",
               "at_ms": T0 + 1000, "source_ts_ms": T0 + 1000 - (latency or 0)}
        tally.attempt(T0 + 1000, orjson.dumps(doc))
    row = view_of(tally).series("1m", [("loop", "L")], 1, now_ms=T0)[0]
    assert (row["delivered"], row["retried"], row["errors"]) == (2, 1, 1)
    assert row["last_delivery_ms"] == T0 + 1000
    assert 90 <= row["latency_ms"]["p50"] <= 99 and 900 <= row["latency_ms"]["p99"] <= 990


def test_latency_buckets_are_at_most_ten_percent_high() -> None:
    for ms in (1.5, 7, 42, 999, 123456):
        upper = 1.1 ** latency_bucket(ms)
        assert ms <= upper <= ms * 1.1 + 1e-9
    assert percentile({}, 0.5) is None
    assert row_of({"in": 3}, "1m")["in"] == 3


def test_a_redriven_or_replayed_delivery_counts_again() -> None:
    """README "Statistics": the same delivery put back on fl.deliveries (re-drive) is routed
    again, and its second successful attempt (re-drive or replay) is delivered again: no
    de-duplication by delivery id."""
    tally = Tally()
    delivery = {"delivery_id": "d1", "loop_id": "L", "event_type": "open",
                "payload": {"database": "db", "collection": "c"}}
    attempt = {"delivery_id": "d1", "loop_id": "L", "event_type": "open",
               "outcome": "delivered", "database": "db", "at_ms": T0 + 1000}
    for offset_ms in (1000, 2000):
        tally.delivery(T0 + offset_ms, orjson.dumps(delivery), "routed")
        tally.attempt(T0 + offset_ms, orjson.dumps(attempt))
    row = view_of(tally).series("1m", [("loop", "L")], 1, now_ms=T0)[0]
    assert (row["routed"], row["delivered"]) == (2, 2)
