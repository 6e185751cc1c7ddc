"""The public surface of ``enrichers`` and its import rules: pure functions, no Faust, Kafka
or HTTP, and of ours only ``schemas``."""
from __future__ import annotations

import subprocess
import sys

import enrichers


def test_exported_members_exist() -> None:
    for name in enrichers.__all__:
        assert getattr(enrichers, name) is not None, name
    assert len(set(enrichers.__all__)) == len(enrichers.__all__)


def test_imports_no_faust_kafka_or_http() -> None:
    code = (
        "import sys, enrichers\n"
        "banned = {'faust', 'mode', 'aiokafka', 'confluent_kafka', 'kafka', 'aiohttp', 'httpx',\n"
        "          'streams', 'senders'}\n"
        "loaded = {name.split('.')[0] for name in sys.modules} & banned\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
