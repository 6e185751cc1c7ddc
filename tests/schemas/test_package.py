"""The public surface of ``schemas`` and its import rules."""
from __future__ import annotations

import subprocess
import sys

import schemas


def test_exported_members_exist() -> None:
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name
    assert len(set(schemas.__all__)) == len(schemas.__all__)


def test_importing_schemas_does_not_import_faust_until_a_record_is_used() -> None:
    code = ("import sys, schemas; assert 'faust' not in sys.modules; "
            "schemas.OpenEvent; assert 'faust' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_schemas_imports_nothing_of_ours() -> None:
    code = ("import sys, schemas, schemas.records; "
            "ours = {m.split('.')[0] for m in sys.modules} & {'streams', 'enrichers', 'senders'}; "
            "assert not ours, ours")
    subprocess.run([sys.executable, "-c", code], check=True)
