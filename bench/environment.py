"""Where the benchmark runs: its Kafka broker and a description of the machine.

The benchmark uses its own local broker (``deploy/kafka/kafkactl.py``) on ``BENCH_KAFKA_PORT``
(default 19392) with data in ``deploy/kafka/var/bench-<port>``, started if it is not running and
stopped at the end if the benchmark started it — so it never touches the demo's (9092) or the
tests' (19092) broker. ``--bootstrap`` points it at any other broker instead.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["BenchBroker", "machine_info"]

ROOT = Path(__file__).resolve().parents[1]
KAFKACTL = ROOT / "deploy" / "kafka" / "kafkactl.py"
DEFAULT_PORT = int(os.environ.get("BENCH_KAFKA_PORT", "19392"))


class BenchBroker:
    """The benchmark's broker: ``bootstrap``; ``pid`` when it is a local one we know."""

    def __init__(self, port: int = DEFAULT_PORT, external: str | None = None) -> None:
        self.port = port
        self.external = external
        self.data_dir = ROOT / "deploy" / "kafka" / "var" / f"bench-{port}"
        self.started_here = False

    @property
    def bootstrap(self) -> str:
        return self.external or f"127.0.0.1:{self.port}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_DATA_DIR": str(self.data_dir)}
        return subprocess.run([sys.executable, str(KAFKACTL), *args], env=env, text=True,
                              capture_output=True, check=check, timeout=300)

    def start(self) -> None:
        if self.external:
            return
        if self._ctl("status", check=False).returncode == 0:
            return
        result = self._ctl("start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"could not start the benchmark broker on port {self.port}:\n"
                               f"{result.stdout}{result.stderr}")
        self.started_here = True

    def stop(self) -> None:
        if self.started_here:
            self._ctl("stop", check=False)
            self.started_here = False

    @property
    def pid(self) -> int | None:
        if self.external:
            return None
        try:
            pid = int((self.data_dir / "broker.pid").read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def kafka_version(self) -> str:
        if self.external:
            return "external broker"
        version = os.environ.get("KAFKA_VERSION", "3.9")
        libs = ROOT / "deploy" / "kafka" / "lib"
        jars = sorted(libs.glob("*/kafka_2.13-*.jar"))
        wanted = [j for j in jars if j.parent.name.startswith(version.split(".")[0])]
        candidates = wanted or jars
        if not candidates:
            return version
        return candidates[-1].name.removeprefix("kafka_2.13-").removesuffix(".jar")


def machine_info(broker: BenchBroker) -> dict[str, Any]:
    """nproc, RAM, CPU model, kernel, Python, library and Kafka versions."""
    import aiohttp
    import confluent_kafka

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    nginx = "not installed"
    try:
        out = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=10)
        nginx = (out.stderr or out.stdout).strip().removeprefix("nginx version: ")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "ram_gib": round(mem_kib / 1048576, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "kafka": broker.kafka_version(),
        "confluent_kafka": getattr(confluent_kafka, "__version__", "?"),
        "librdkafka": confluent_kafka.libversion()[0], "aiohttp": aiohttp.__version__,
        "nginx": nginx, "load_avg_at_start": list(os.getloadavg()),
    }
