"""Which Kafka errors are permanent, and what a parked copy looks like (streams.kafka.parking)."""
from __future__ import annotations

from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from streams.kafka.limits import ORIGINAL_VALUE_BYTES, TRUNCATED, record_size
from streams.kafka.parking import OVER_LIMIT, Parking, parked_copy, permanent
from streams.metrics import PipelineMetrics

PARKING = Parking("fl.invalid", 100_000)


def test_size_topic_and_authorisation_errors_are_permanent() -> None:
    for code in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                 KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_RECORD,
                 KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._UNKNOWN_TOPIC):
        assert permanent(KafkaError(code)), code


def test_transient_errors_are_not() -> None:
    for code in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT,
                 KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.REQUEST_TIMED_OUT,
                 KafkaError.NOT_ENOUGH_REPLICAS, KafkaError._ALL_BROKERS_DOWN):
        assert not permanent(KafkaError(code)), code


def test_a_refused_record_is_parked_with_the_reason_and_where_it_was_going() -> None:
    own = [("fl-reason", b"old"), ("trace", b"1")]
    copy = parked_copy(PARKING, "fl.deliveries", b"loop|p1", b"{}" * 10, own,
                       "MSG_SIZE_TOO_LARGE", "Broker: Message size too large")
    headers = dict(copy.headers)
    size = record_size(b"loop|p1", b"{}" * 10, own)
    assert headers["fl-reason"].decode() == (f"Kafka refused the record for fl.deliveries ({size} "
                                             "bytes): Broker: Message size too large")
    assert headers["fl-refused-topic"] == b"fl.deliveries"
    assert headers["fl-error"] == b"MSG_SIZE_TOO_LARGE"
    assert headers["trace"] == b"1"
    assert [k for k, _ in copy.headers].count("fl-reason") == 1
    assert copy.key == b"loop|p1" and copy.value == b"{}" * 10 and not copy.truncated


def test_an_invalid_record_keeps_its_own_reason_and_is_only_cut() -> None:
    headers = [("fl-reason", b"the raw event is 5000000 bytes, over ..."),
               ("fl-source-topic", b"fl.raw.opens"), ("fl-source-partition", b"3"),
               ("fl-source-offset", b"41")]
    copy = parked_copy(PARKING, "fl.invalid", b"p1", b"x" * 5_000_000, headers, OVER_LIMIT,
                       "5000160 bytes, over limits.record_bytes (100000)")
    assert copy.truncated and copy.headers[:4] == headers
    assert dict(copy.headers)[TRUNCATED] == b"value"
    assert dict(copy.headers)[ORIGINAL_VALUE_BYTES] == b"5000000"
    assert "fl-refused-topic" not in dict(copy.headers)
    assert record_size(copy.key, copy.value, copy.headers) <= 100_000


def test_a_smaller_limit_can_be_asked_for() -> None:
    copy = parked_copy(PARKING, "fl.deliveries", b"k", b"v" * 50_000, None, "E", "e", 4096)
    assert record_size(copy.key, copy.value, copy.headers) <= 4096 and copy.truncated


def test_counted_parking_feeds_the_metrics() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    parking = Parking.counted("fl.invalid", 1_000_000, metrics)
    assert parking.on_parked is not None
    parking.on_parked("fl.deliveries", "MSG_SIZE_TOO_LARGE")
    parking.on_parked("fl.invalid", OVER_LIMIT)
    assert metrics.parked.labels("fl.deliveries", "MSG_SIZE_TOO_LARGE")._value.get() == 1
    assert metrics.parked.labels("fl.invalid", OVER_LIMIT)._value.get() == 1
    assert metrics.oversize.labels("record")._value.get() == 1
