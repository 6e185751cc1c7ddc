"""The public surface and the package's boundaries."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import senders

PACKAGE = Path(senders.__file__).parent


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(senders.__all__) == sorted(set(senders.__all__))
    for name in senders.__all__:
        assert hasattr(senders, name), name
    public = {n for n in vars(senders) if not n.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert public - modules == set(senders.__all__)


def test_every_module_declares_all_and_exports_exist() -> None:
    for info in pkgutil.iter_modules([str(PACKAGE)]):
        module = importlib.import_module(f"senders.{info.name}")
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"senders.{info.name}.{name}"


def test_no_faust_kafka_or_streams_imports() -> None:
    forbidden = ("faust", "mode", "aiokafka", "confluent_kafka", "kafka", "streams", "enrichers")
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        lines = len(path.read_text().splitlines())
        assert lines <= 320, f"{path.name} has {lines} lines: split it"
