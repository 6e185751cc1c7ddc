from collections import namedtuple

from faust.types import TP

from streams.worker.ordering import TimestampOrder

Rec = namedtuple("Rec", "timestamp offset")


def test_merges_partitions_by_timestamp_keeping_each_partitions_order() -> None:
    edits, opens = TP("raw.profile-edits", 0), TP("raw.opens", 0)
    records = {
        opens: [Rec(105, 0), Rec(110, 1), Rec(107, 2)],  # out of order within: kept as is
        edits: [Rec(100, 0), Rec(108, 1)],
    }
    out = [(tp.topic, r.offset) for tp, r in TimestampOrder().iterate(records)]
    assert out == [("raw.profile-edits", 0), ("raw.opens", 0), ("raw.profile-edits", 1),
                   ("raw.opens", 1), ("raw.opens", 2)]


def test_single_partition_passthrough() -> None:
    tp = TP("t", 1)
    recs = [Rec(3, 0), Rec(1, 1)]
    assert [r for _, r in TimestampOrder().iterate({tp: recs})] == recs


def test_at_equal_timestamps_preferred_topics_go_first() -> None:
    edits, opens = TP("raw.profile-edits", 0), TP("raw.opens", 0)
    order = TimestampOrder.preferring("raw.profile-edits")()
    out = [tp.topic for tp, _ in order.iterate({opens: [Rec(5, 0)], edits: [Rec(5, 0)]})]
    assert out == ["raw.profile-edits", "raw.opens"]
