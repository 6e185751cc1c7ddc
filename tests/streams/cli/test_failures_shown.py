"""The command line's one boundary: an expected failure is one line and an exit status."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

from streams.cli.main import _Root
from streams.errors import ConfigError, NotFound


def _group(failure: Exception) -> click.Group:
    @click.group(cls=_Root)
    def root() -> None:
        """test root"""

    @root.command()
    def fail() -> None:
        raise failure

    return root


@pytest.mark.parametrize("failure, code, text", [
    (NotFound("l1"), 1, "Error: no loop with id 'l1'"),
    (ConfigError("kafka.partitions: must be >= 1, got 0"), 2, "Error: kafka.partitions: must"),
    (KafkaException(KafkaError(KafkaError._TRANSPORT, "Broker transport failure")), 69,
     "Error: cannot reach Kafka at the cluster"),
    (KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)), 1,
     "Error: Kafka at the cluster: TOPIC_AUTHORIZATION_FAILED"),
])
def test_expected_failures_are_one_line_and_a_status(failure: Exception, code: int,
                                                     text: str) -> None:
    result = CliRunner().invoke(_group(failure), ["fail"])
    assert result.exit_code == code
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(text), result.output


def test_a_bug_is_not_disguised() -> None:
    result = CliRunner().invoke(_group(ZeroDivisionError("bug")), ["fail"])
    assert isinstance(result.exception, ZeroDivisionError)
