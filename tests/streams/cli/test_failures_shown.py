"""The command line's one boundary: an expected failure is one line and an exit status."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

from streams.cli.main import _Root
from streams.errors import ConfigError, NotFound

ROOT = Path(__file__).resolve().parents[3]


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
    (FileNotFoundError(2, "No such file or directory", "r.eml"), 1,
     "Error: r.eml: No such file or directory"),
    (OSError(98, "address already in use"), 1, "Error: address already in use"),
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


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "streams", "demo", "receiver", "--port",
                               str(port)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "address already in use" in proc.stderr
