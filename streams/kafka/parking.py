"""What happens to a record Kafka refuses for good: it is parked in ``fl.invalid``, never
re-produced forever and never a crash.

Kafka refuses some records for a reason that retrying cannot change: too large
(``MSG_SIZE_TOO_LARGE`` locally or from the broker, ``RECORD_LIST_TOO_LARGE``), an invalid or
unknown topic, a record the broker calls invalid, a topic we may not write to. Those are
:func:`permanent`. The :class:`streams.kafka.output.Output` then writes a *parked copy* to
``fl.invalid`` instead (:func:`parked_copy`): the record's key and value (cut to fit
``limits.record_bytes``, marked as :mod:`streams.kafka.limits` describes) and headers
``fl-reason`` (Kafka's error and the record's size), ``fl-refused-topic`` (where it was meant to
go), ``fl-error`` (the error's name), plus the record's own headers. A record that was itself
meant for ``fl.invalid`` keeps its own reason and source coordinates and is only cut.

Everything else (timeouts, a leader moving, a broker down) stays transient: produced again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from confluent_kafka import KafkaError

from streams.kafka.limits import Copy, Header, record_size, truncated_copy
from streams.metrics import PipelineMetrics

__all__ = ["MINIMAL_COPY_BYTES", "OVER_LIMIT", "Parking", "parked_copy", "permanent"]

#: the error name of a record over ``limits.record_bytes`` (refused before Kafka saw it)
OVER_LIMIT = "over_record_bytes"
#: a parked copy that was refused itself is tried once more cut to this size (fl.invalid with
#: a lowered max.message.bytes still takes it)
MINIMAL_COPY_BYTES = 4096

_PERMANENT = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.TOPIC_EXCEPTION,
    KafkaError.INVALID_RECORD, KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION, KafkaError._INVALID_ARG,
})


@dataclass(frozen=True)
class Parking:
    """Where records Kafka refuses go, the record limit, and who hears about it.

    ``on_parked(topic, error)`` is called once per parked record with the topic it was meant
    for and the error's name (:data:`OVER_LIMIT` when it was over ``record_bytes``).
    """

    topic: str
    record_bytes: int
    on_parked: Callable[[str, str], None] | None = None

    @classmethod
    def counted(cls, topic: str, record_bytes: int, metrics: PipelineMetrics) -> "Parking":
        """Parking that counts in ``fl_parked_records_total`` (and, for records over
        ``record_bytes``, ``fl_oversize_records_total{kind="record"}``)."""
        def on_parked(meant_for: str, error: str) -> None:
            metrics.parked.labels(meant_for, error).inc()
            if error == OVER_LIMIT:
                metrics.oversize.labels("record").inc()

        return cls(topic, record_bytes, on_parked)


def permanent(err: KafkaError) -> bool:
    """Whether producing the record again cannot succeed (see the module docstring)."""
    return err.code() in _PERMANENT


def parked_copy(parking: Parking, topic: str, key: bytes | str | None, value: bytes | None,
                headers: Sequence[Header] | None, error: str, detail: str,
                max_bytes: int | None = None) -> Copy:
    """The record to write to ``parking.topic`` instead, at most ``max_bytes`` (default
    ``parking.record_bytes``)."""
    limit = parking.record_bytes if max_bytes is None else max_bytes
    own = list(headers or ())
    if topic != parking.topic:
        size = record_size(key, value, headers)
        reason = f"Kafka refused the record for {topic} ({size} bytes): {detail}"
        own = [("fl-reason", reason.encode()), ("fl-refused-topic", topic.encode()),
               ("fl-error", error.encode()), *(h for h in own if h[0] != "fl-reason")]
    return truncated_copy(key, value, own, limit)
