"""The worker's consumer starts fetch rounds at most once per interval (aiokafka's own round
planning is scripted here; tests/integration/test_worker_fetching.py runs the real one)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher

from streams.config.loading import parse_config
from streams.worker.app import build_app
from streams.worker.bootstrap import GatedConsumer
from streams.worker.fetching import PacedFetcher


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """aiokafka's round planning, scripted: one fetch request per call; the call times."""
    calls: list[float] = []

    def actions(self: Fetcher, assignment: Any) -> tuple[Any, ...]:
        calls.append(time.monotonic())
        return [(1, "fetch request")], {}, 0.2, False, []

    monkeypatch.setattr(Fetcher, "_get_actions_per_node", actions)
    return calls


def test_a_round_too_soon_after_the_last_waits_for_the_rest_of_the_interval(
        planned: list[float]) -> None:
    fetcher = PacedFetcher.pace(object.__new__(Fetcher), 0.05)
    assert fetcher._get_actions_per_node(None)[0] == [(1, "fetch request")]
    requests, resets, timeout, invalid, resumes = fetcher._get_actions_per_node(None)
    assert (requests, resets, invalid, resumes) == ([], {}, False, [])
    assert 0 < timeout <= 0.05
    assert len(planned) == 1  # no request was even built for the early turn
    time.sleep(timeout + 0.005)
    assert fetcher._get_actions_per_node(None)[0] == [(1, "fetch request")]
    assert planned[1] - planned[0] >= 0.05


def test_a_turn_that_sends_nothing_does_not_start_an_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    turns = [[], [], [(1, "fetch request")]]
    monkeypatch.setattr(Fetcher, "_get_actions_per_node",
                        lambda self, a: (turns.pop(0), {}, 0.2, False, []))
    fetcher = PacedFetcher.pace(object.__new__(Fetcher), 10.0)
    assert [fetcher._get_actions_per_node(None)[0] for _ in range(3)] == \
        [[], [], [(1, "fetch request")]]


def test_the_worker_consumer_fetches_at_the_configured_interval(tmp_path: Path) -> None:
    app = build_app(parse_config({"worker": {"data_dir": str(tmp_path / "w"), "store": "memory",
                                             "fetch_interval_ms": 40}}))
    consumer_class = app.transport.Consumer
    assert issubclass(consumer_class, GatedConsumer)
    assert consumer_class.fetch_interval_ms == 40
