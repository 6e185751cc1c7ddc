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


def test_a_field_of_the_wrong_type_neither_crashes_nor_counts_as_a_database() -> None:
    # a raw event whose database is a list is still an event in (its type is known); it used
    # to raise TypeError (unhashable) and restart the aggregator on the same record forever
    tally = Tally()
    doc = {"id": "e1", "type": "open", "database": ["x"], "collection": {"c": 1},
           "profile": "p1", "mailing": "m1"}
    tally.raw(("opens", 0), T0 + 1, orjson.dumps(doc))
    tally.delivery(T0 + 1, orjson.dumps({"loop_id": "L", "event_type": "open",
                                         "payload": {"database": ["x"]}}), "routed")
    tally.attempt(T0 + 1, orjson.dumps({"loop_id": "L", "event_type": "open",
                                        "outcome": "retry", "database": {"d": 1}}))
    view = view_of(tally)
    row = view.series("1m", [("type", "open")], 1, now_ms=T0)[0]
    assert (row["in"], row["routed"], row["retried"]) == (1, 1, 1)
    assert not any(dim[:1] == ("db",) for dim in view._windows["1m"][T0])


def test_a_profile_counts_once_per_window_across_links_flushes_and_minutes() -> None:
    tally = Tally()
    tp = ("clicks", 3)
    # minute 0: p1 clicks two links of m1; minute 1: p1 again and p2, in the same flush
    for ts, who, link in ((T0 + 1000, "p1", "l1"), (T0 + 2000, "p1", "l2"),
                          (T0 + 61_000, "p1", "l1"), (T0 + 62_000, "p2", "l2")):
        tally.raw(tp, ts, event("click", who, link=link))
    deltas = tally.take()
    # a later flush: p1 once more in minute 1, p3 new
    tally.raw(tp, T0 + 63_000, event("click", "p1", link="l2"))
    tally.raw(tp, T0 + 64_000, event("click", "p3", link="l1"))
    later = tally.take()
    view = StatsView(None, "unused")  # type: ignore[arg-type]
    for _, value in encode_deltas(deltas) + encode_deltas(later):
        view.apply(value)
    mailing = [("db", "db", "mailing", "m1")]
    minutes = view.series("1m", mailing, 2, now_ms=T0 + 61_000)
    assert [(m["clicks"], m["unique_clicks"]) for m in minutes] == [(2, 1), (4, 3)]
    hour = view.series("1h", mailing, 1, now_ms=T0)[0]
    assert (hour["clicks"], hour["unique_clicks"]) == (6, 3)
    l2 = view.series("1d", [("db", "db", "mailing", "m1", "link", "l2")], 1, now_ms=T0)[0]
    assert (l2["clicks"], l2["unique_clicks"]) == (3, 2)


def test_sets_of_another_partition_are_separate_and_forgotten_with_it() -> None:
    tally = Tally()
    tally.raw(("opens", 0), T0 + 1, event("open", "p1"))
    tally.raw(("opens", 1), T0 + 2, event("open", "p1"))  # keyed by profile: cannot happen,
    tally.take()                                          # but each partition keeps its own
    tally.forget([("opens", 0)])
    tally.raw(("opens", 0), T0 + 3, event("open", "p1"))
    tally.raw(("opens", 1), T0 + 4, event("open", "p1"))
    row = view_of(tally).series("1m", [("db", "db", "mailing", "m1")], 1, now_ms=T0)[0]
    assert (row["opens"], row["unique_opens"]) == (2, 1)


def test_pruned_windows_count_a_late_profile_as_new() -> None:
    tally = Tally()
    tally.raw(("opens", 0), T0 + 1, event("open", "p1"))
    tally.take()
    tally.prune(T0 + 2 * 60_000 + 1)  # the first minute ended more than a minute ago
    tally.raw(("opens", 0), T0 + 2, event("open", "p1"))
    view = view_of(tally)
    row = view.series("1m", [("db", "db", "mailing", "m1")], 1, now_ms=T0)[0]
    assert (row["opens"], row["unique_opens"]) == (1, 1)
    hour = view.series("1h", [("db", "db", "mailing", "m1")], 1, now_ms=T0)[0]
    assert (hour["opens"], hour["unique_opens"]) == (1, 0)  # the hour's set still knows p1
