"""The demo's delayed replay waits for the first event through transient Kafka errors."""
from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

import streams.kafka.window as window
from streams.config.settings import KafkaConfig
from streams.demo.producer import wait_for_first_event


class Planned:
    def __init__(self, records: int) -> None:
        self.records = records


def test_a_leader_election_does_not_stop_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after `topics create`, reading offsets may answer NOT_LEADER_FOR_PARTITION
    (the demo died of it, `[demo] replay exited with 1; stopping`): look again."""
    answers: list[Any] = [KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)),
                          Planned(0), Planned(3)]

    def plan(*_: Any, **__: Any) -> Planned:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(window, "plan_window", plan)
    wait_for_first_event(KafkaConfig(), ["t.fl.raw.opens"], poll_s=0)
    assert answers == []


def test_errors_that_last_or_are_fatal_still_stop_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Planned:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    monkeypatch.setattr(window, "plan_window", broken)
    with pytest.raises(KafkaException):
        wait_for_first_event(KafkaConfig(), ["t"], poll_s=0, errors_for_s=0.05)

    def fatal(*_: Any, **__: Any) -> Planned:
        raise KafkaException(KafkaError(KafkaError._FENCED, fatal=True))

    monkeypatch.setattr(window, "plan_window", fatal)
    with pytest.raises(KafkaException):
        wait_for_first_event(KafkaConfig(), ["t"], poll_s=0, errors_for_s=3600)
