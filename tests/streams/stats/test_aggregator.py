"""The aggregator's reading of a record's topic and headers (no broker: records built here)."""
from __future__ import annotations

from confluent_kafka import Message

from streams.config.loading import parse_config
from streams.kafka.topics import Topics
from streams.stats.aggregator import Aggregator
from streams.stats.counting import Tally

T0 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000


def test_an_invalid_record_with_an_empty_source_header_counts_as_unknown() -> None:
    # a header without a value used to raise AttributeError and restart the aggregator on the
    # same record forever
    config = parse_config({})
    topics = Topics.for_config(config)
    aggregator = Aggregator(config, topics)
    tally = Tally()
    for headers in ([("fl-source-topic", None)], [("fl-source-topic", topics.raw["open"].encode())]):
        aggregator._count(tally, Message(topic=topics.invalid, partition=0, value=b"\xff",
                                         headers=headers, timestamp=(1, T0 + 5)))
    rows = tally.take()[T0]
    assert rows[("type", "unknown")]["invalid"] == 1
    assert rows[("type", "open")]["invalid"] == 1
