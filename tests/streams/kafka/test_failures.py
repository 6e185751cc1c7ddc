"""Kafka's failures in our terms: the reachability check and the one translation."""
from __future__ import annotations

import socket
import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.config.loading import parse_config
from streams.errors import BrokerUnreachable, KafkaFailure
from streams.kafka.failures import check_reachable, translate


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_broker_is_reported_within_seconds_with_its_cause() -> None:
    servers = f"127.0.0.1:{_closed_port()}"
    kafka = parse_config({"kafka": {"bootstrap_servers": servers}}).kafka
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as caught:
        check_reachable(kafka, timeout_s=30.0)
    # librdkafka says "all brokers down" at once: no need to wait for timeout_s
    assert time.monotonic() - started < 15.0
    assert caught.value.servers == servers and "Connection refused" in caught.value.reason
    assert str(caught.value).startswith(f"cannot reach Kafka at {servers} ")


def test_an_unknown_host_is_named() -> None:
    kafka = parse_config({"kafka": {"bootstrap_servers": "no-such-host.invalid:9092"}}).kafka
    with pytest.raises(BrokerUnreachable, match="no-such-host.invalid"):
        check_reachable(kafka, timeout_s=10.0)


@pytest.mark.parametrize("code, expected", [
    (KafkaError._TRANSPORT, BrokerUnreachable),
    (KafkaError._ALL_BROKERS_DOWN, BrokerUnreachable),
    (KafkaError._RESOLVE, BrokerUnreachable),
    (KafkaError._TIMED_OUT, BrokerUnreachable),
    (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaFailure),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaFailure),
    (KafkaError.POLICY_VIOLATION, KafkaFailure),
])
def test_every_confluent_error_becomes_one_of_ours(code: int, expected: type) -> None:
    ours = translate(KafkaException(KafkaError(code)), "h:9092")
    assert type(ours) is expected and "h:9092" in str(ours)

