"""The local broker script: idempotent start/stop, stale state, readiness."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.broker import kafkactl

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PORTS = iter(range(19292, 19332, 2))  # a broker port and its controller port per test


@pytest.fixture
def port() -> int:
    """A fresh port pair per test: a broker still closing its sockets after the previous
    test (a loaded machine) must not make this one's start fail."""
    return next(PORTS)


@pytest.fixture
def data_dir(tmp_path: Path, port: int):  # type: ignore[no-untyped-def]
    d = tmp_path / "kafka"
    yield d
    kafkactl("stop", port=port, data_dir=d, check=False)


def test_start_twice_stop_twice(data_dir: Path, port: int) -> None:
    first = kafkactl("start", port=port, data_dir=data_dir)
    assert "running (pid" in first.stdout
    second = kafkactl("start", port=port, data_dir=data_dir)
    assert "already running" in second.stdout
    assert kafkactl("status", port=port, data_dir=data_dir).returncode == 0
    assert "stopped (pid" in kafkactl("stop", port=port, data_dir=data_dir).stdout
    assert "already stopped" in kafkactl("stop", port=port, data_dir=data_dir).stdout
    assert kafkactl("status", port=port, data_dir=data_dir, check=False).returncode == 1
    assert (data_dir / "broker.log").stat().st_size > 0


def test_restart_after_kill_with_stale_pid_and_data(data_dir: Path, port: int) -> None:
    kafkactl("start", port=port, data_dir=data_dir)
    pid = int((data_dir / "broker.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # leaves the pid file, lock file and unclean logs behind
    status = kafkactl("status", port=port, data_dir=data_dir, check=False)
    assert status.returncode == 1
    again = kafkactl("start", port=port, data_dir=data_dir)
    assert "running (pid" in again.stdout
    assert int((data_dir / "broker.pid").read_text()) != pid


def test_pid_file_of_an_unrelated_process_is_ignored(data_dir: Path, port: int) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "broker.pid").write_text(str(os.getpid()))  # alive, but not a broker
    assert "stopped" in kafkactl("status", port=port, data_dir=data_dir, check=False).stdout
    assert "already stopped" in kafkactl("stop", port=port, data_dir=data_dir).stdout
    assert "running (pid" in kafkactl("start", port=port, data_dir=data_dir).stdout


def test_reset_wipes_data(data_dir: Path, port: int) -> None:
    kafkactl("start", port=port, data_dir=data_dir)
    kafkactl("reset", port=port, data_dir=data_dir)
    assert not data_dir.exists()


def test_kafka_4_switch(tmp_path: Path) -> None:
    d = tmp_path / "kafka4"
    try:
        started = kafkactl("start", port=19282, data_dir=d, version="4")
        assert "Kafka 4." in started.stdout
    finally:
        kafkactl("stop", port=19282, data_dir=d, version="4", check=False)
