"""The import direction of DESIGN.md: schemas <- enrichers <- streams, schemas <- senders <- streams;
nothing imports streams; enrichers and senders import no Faust (and no Kafka client)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"schemas", "enrichers", "senders", "streams"}
ALLOWED = {
    "schemas": set(),
    "enrichers": {"schemas"},
    "senders": {"schemas"},
    "streams": {"schemas", "enrichers", "senders"},
}
FORBIDDEN_THIRD_PARTY = {
    "enrichers": {"faust", "mode", "confluent_kafka", "aiokafka", "aiohttp"},
    "senders": {"faust", "mode", "confluent_kafka", "aiokafka"},
    "schemas": {"confluent_kafka", "aiokafka", "aiohttp"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(OURS))
def test_import_direction(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        found = imports_of(path)
        ours = (found & OURS) - {package}
        assert ours <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {sorted(ours - ALLOWED[package])}"
        banned = found & FORBIDDEN_THIRD_PARTY.get(package, set())
        assert not banned, f"{path.relative_to(ROOT)} imports {sorted(banned)}"


def test_nothing_imports_streams_outside_it() -> None:
    for package in ("schemas", "enrichers", "senders"):
        for path in (ROOT / package).rglob("*.py"):
            assert "streams" not in imports_of(path), path
