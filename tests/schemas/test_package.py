"""The public surface of ``schemas`` and its import rules."""
from __future__ import annotations

import subprocess
import sys

import schemas


def test_exported_members_exist() -> None:
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name
    assert len(set(schemas.__all__)) == len(schemas.__all__)


def test_importing_schemas_imports_no_faust_kafka_or_http() -> None:
    code = ("import sys, schemas; "
            "bad = {'faust', 'confluent_kafka', 'aiokafka', 'aiohttp'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_schemas_imports_nothing_of_ours() -> None:
    code = ("import sys, schemas; "
            "ours = {m.split('.')[0] for m in sys.modules} & {'streams', 'enrichers', 'senders'}; "
            "assert not ours, ours")
    subprocess.run([sys.executable, "-c", code], check=True)
