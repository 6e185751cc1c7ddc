"""kafkactl's cluster ids: what the storage tool's argument parser accepts (no broker needed)."""
from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType

import pytest

KAFKACTL = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafkactl.py"


def load_kafkactl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kafkactl_under_test", KAFKACTL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 encodes as '-' in base64url: `format -t -...` made the storage tool fail (1 in 64)
    kafkactl = load_kafkactl()
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x10" + bytes(15))])
    monkeypatch.setattr(kafkactl.uuid, "uuid4", lambda: next(draws))
    found = kafkactl.new_cluster_id()
    assert not found.startswith("-") and len(found) == 22
    assert found == "EAAAAAAAAAAAAAAAAAAAAA"
