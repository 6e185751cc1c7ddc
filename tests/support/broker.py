"""Where the tests' Kafka comes from: ``KAFKA_BOOTSTRAP_SERVERS``, else a testcontainers
broker when a Docker engine answers, else the local KRaft broker from ``deploy/kafka/``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
KAFKACTL = ROOT / "deploy" / "kafka" / "kafkactl.py"
TEST_PORT = int(os.environ.get("FLTEST_KAFKA_PORT", "19092"))


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def kafkactl(*args: str, port: int = TEST_PORT, data_dir: Path | None = None,
             version: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KAFKA_PORT=str(port))
    env["KAFKA_DATA_DIR"] = str(data_dir or ROOT / "deploy" / "kafka" / "var" / f"test-{port}")
    if version:
        env["KAFKA_VERSION"] = version
    done = subprocess.run([sys.executable, str(KAFKACTL), *args], env=env, text=True,
                          capture_output=True, timeout=180)
    if check and done.returncode != 0:  # say why: the broker log's tail is in stderr
        raise AssertionError(f"kafkactl {' '.join(args)} (port {port}) exited with "
                             f"{done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


@contextmanager
def session_broker() -> Iterator[str]:
    """Yield a bootstrap address for the whole test session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if docker_available():  # pragma: no cover - our machines have no Docker engine
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    already = kafkactl("status", check=False).returncode == 0
    if not already:
        proc = kafkactl("start", check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"could not start the test broker:\n{proc.stdout}{proc.stderr}")
    try:
        yield f"127.0.0.1:{TEST_PORT}"
    finally:
        if not already and not os.environ.get("FLTEST_KEEP_BROKER"):
            kafkactl("stop", check=False)
