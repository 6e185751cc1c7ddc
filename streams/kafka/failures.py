"""Kafka's failures in our terms: the start-up reachability check, and the one place where
confluent-kafka's exceptions become :mod:`streams.errors`.

librdkafka retries an unreachable broker forever and reports it only through callbacks, so a
command that simply starts working waits for its own timeouts (30 s and more) before it fails.
:func:`check_reachable` asks for metadata first and gives up as soon as librdkafka says every
bootstrap server is down (a refused connection, an unknown host: well under a second), or after
``timeout_s`` when nothing answers at all (a black-holed address).
"""
from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streams.config.settings import KafkaConfig
from streams.errors import BrokerUnreachable, KafkaFailure
from streams.kafka.clients import confluent_config

__all__ = ["REACH_TIMEOUT_S", "check_reachable", "translate"]

#: how long :func:`check_reachable` waits for a first answer when no error comes either.
REACH_TIMEOUT_S = 10.0

#: librdkafka's codes for "no broker could be talked to" (as opposed to a refused request).
_UNREACHABLE = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT,
                          KafkaError._RESOLVE, KafkaError._TIMED_OUT,
                          KafkaError._AUTHENTICATION, KafkaError._SSL})


def check_reachable(kafka: KafkaConfig, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Return once a bootstrap server answers a metadata request; raise
    :class:`BrokerUnreachable` when librdkafka reports every one down, or after ``timeout_s``."""
    problems: list[KafkaError] = []
    # librdkafka's own log lines would repeat what the exception says, on stderr
    admin = AdminClient(confluent_config(kafka, **{"log_level": 0,
                                                   "error_cb": problems.append}))
    deadline = time.monotonic() + timeout_s
    wait_s = 0.1  # short at first: a refused connection is known within milliseconds
    while True:
        try:
            admin.list_topics(timeout=min(wait_s, max(0.05, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            last: Any = exc.args[0] if exc.args else exc
        admin.poll(0)  # serves error_cb
        wait_s = min(1.0, wait_s * 2)
        down = [p for p in problems if p.code() == KafkaError._ALL_BROKERS_DOWN]
        if down or time.monotonic() >= deadline:
            raise BrokerUnreachable(kafka.bootstrap_servers, _reason(problems, last, timeout_s))


def _reason(problems: list[KafkaError], last: Any, timeout_s: float) -> str:
    """The first specific cause librdkafka gave (connection refused, unknown host, ...)."""
    for problem in problems:
        if problem.code() != KafkaError._ALL_BROKERS_DOWN:
            text: str = problem.str()
            # "host:port/bootstrap: Connect to ... failed: Connection refused (after 0ms in
            # state CONNECT)" -> the part after the broker's name, without the timing
            text = text.split("/bootstrap: ", 1)[-1]
            return text.split(" (after ", 1)[0]
    if isinstance(last, KafkaError) and last.code() != KafkaError._TRANSPORT:
        return str(last.str())
    return f"no answer within {timeout_s:g}s"


def translate(exc: KafkaException, servers: str) -> KafkaFailure:
    """Our exception for a confluent-kafka one; ``servers`` names the cluster in the message."""
    err = exc.args[0] if exc.args else None
    if not isinstance(err, KafkaError):
        return KafkaFailure(f"Kafka at {servers}: {exc}")
    if err.code() in _UNREACHABLE:
        return BrokerUnreachable(servers, str(err.str()))
    if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        return KafkaFailure(f"Kafka at {servers}: {err.str()}: create the topics with "
                            "`feedbackloops topics create`")
    return KafkaFailure(f"Kafka at {servers}: {err.name()}: {err.str()}")

