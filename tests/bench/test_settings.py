"""``python -m bench --set section.key=value``: a setting measured without editing code."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.harness import parse_settings
from bench.pipeline import Pipeline


def test_set_items_become_sections_with_yaml_values() -> None:
    assert parse_settings(["worker.fetch_interval_ms=100", "sender.max_in_flight=64",
                           "worker.event_loop=asyncio", "stats.enabled=false"]) == {
        "worker": {"fetch_interval_ms": 100, "event_loop": "asyncio"},
        "sender": {"max_in_flight": 64}, "stats": {"enabled": False}}


@pytest.mark.parametrize("item", ["fetch_interval_ms=100", "worker.fetch_interval_ms",
                                  ".x=1", "worker.=1"])
def test_a_malformed_item_is_refused_by_name(item: str) -> None:
    with pytest.raises(ValueError, match="section.key=value") as err:
        parse_settings([item])
    assert repr(item) in str(err.value)


def test_the_settings_reach_the_pipelines_config_over_the_scenarios_own(tmp_path: Path) -> None:
    pipeline = Pipeline("127.0.0.1:1", tmp_path, [], worker={"fetch_interval_ms": 25},
                        settings=parse_settings(["worker.fetch_interval_ms=100"]))
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert written["worker"]["fetch_interval_ms"] == 100
    assert written["worker"]["store"] == "memory"  # the rest of the section is kept
    assert pipeline.config.worker.fetch_interval_ms == 100
