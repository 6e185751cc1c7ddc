"""Docs that must not drift from the code."""
from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.metrics import PipelineMetrics

ROOT = Path(__file__).resolve().parents[1]


def test_every_metric_is_documented() -> None:
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    doc = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^`(fl_[a-z_]+)`", doc, re.M))
    assert names == documented


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
