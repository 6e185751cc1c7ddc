"""The worker's consumer starts fetch rounds at most once per interval and hands big fetches
over by whole partition numbers (aiokafka's own round planning is scripted here;
tests/integration/test_worker_fetching.py runs the real one)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.consumer.fetcher import FetchError, FetchResult, Fetcher
from faust.types import TP

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


class Waiting:
    """What ``part`` reads of aiokafka's fetched-but-not-returned data of one partition."""

    def __init__(self, size: int) -> None:
        self._records = self
        self.size = size

    def size_in_bytes(self) -> int:
        return self.size


def fetcher_holding(sizes: dict[TP, int], drain_bytes: int = 256) -> PacedFetcher:
    fetcher = PacedFetcher.pace(object.__new__(Fetcher), 0.0, drain_bytes)
    fetcher._records = {tp: FetchResult(tp, assignment=None, partition_records=Waiting(size),
                                        backoff=0) for tp, size in sizes.items()}
    return fetcher


OPENS, EDITS = "fl.raw.opens", "fl.raw.profile-edits"


def test_little_waiting_is_handed_over_at_once() -> None:
    fetcher = fetcher_holding({TP(OPENS, 0): 100, TP(EDITS, 1): 100})
    assert fetcher.part(None) is None


def test_much_waiting_is_handed_over_by_whole_partition_numbers_in_turn() -> None:
    fetcher = fetcher_holding({TP(OPENS, 0): 200, TP(EDITS, 0): 100, TP(OPENS, 1): 300,
                               TP(OPENS, 2): 50, TP(EDITS, 2): 10})
    assert fetcher.part(None) == {TP(OPENS, 0), TP(EDITS, 0)}  # edits come with their opens
    assert fetcher.part(None) == {TP(OPENS, 1)}
    assert fetcher.part(None) == {TP(OPENS, 2), TP(EDITS, 2), TP(OPENS, 0), TP(EDITS, 0)}


def test_only_the_partitions_asked_for_are_handed_over() -> None:
    fetcher = fetcher_holding({TP(OPENS, 0): 200, TP(EDITS, 0): 100, TP(OPENS, 1): 300})
    assert fetcher.part({TP(OPENS, 0), TP(OPENS, 1)}) == {TP(OPENS, 0), TP(OPENS, 1)}
    assert fetcher.part({TP(OPENS, 1)}) == {TP(OPENS, 1)}


def test_a_waiting_error_goes_through_aiokafka_unchanged() -> None:
    fetcher = fetcher_holding({TP(OPENS, 0): 1000})
    fetcher._records[TP(OPENS, 1)] = FetchError(error=RuntimeError("x"), backoff=0)
    assert fetcher.part(None) is None


def test_rounds_are_spaced_to_bring_about_round_events_each(planned: list[float]) -> None:
    fetcher = PacedFetcher.pace(object.__new__(Fetcher), 0.1)
    assert fetcher.interval(100.0) == 0.1  # nothing known yet: the longest
    fetcher._handed = 60  # 60 records in 0.1 s: 600/s
    assert fetcher.interval(100.1) == pytest.approx(24 / 300)  # smoothed from 0 towards 600/s
    fetcher._handed = 60
    assert fetcher.interval(100.2) == pytest.approx(24 / 450)
    fetcher._handed = 100_000  # a spike: the shortest
    assert fetcher.interval(100.3) == fetcher.min_interval_s
    assert fetcher.interval(102.0) == 0.1  # then quiet for over a second: the longest again


def test_while_a_partition_waits_to_be_opened_the_long_poll_is_short(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """aiokafka sends one fetch per broker at a time: a partition opened while an idle long
    poll is out waited for it (Faust's 1.5 s) at every cut-over."""
    waits: list[int] = []
    monkeypatch.setattr(Fetcher, "_get_actions_per_node",
                        lambda self, a: (waits.append(self._fetch_max_wait_ms)
                                         or ([], {}, 0.2, False, [])))
    gated: set[TP] = {TP("fl.gen2.events", 0)}
    bare = object.__new__(Fetcher)
    bare._fetch_max_wait_ms = 1500
    fetcher = PacedFetcher.pace(bare, 0.0, gating=lambda: bool(gated))
    fetcher._get_actions_per_node(None)
    gated.clear()
    fetcher._get_actions_per_node(None)
    assert waits == [PacedFetcher.gated_wait_ms, 1500]
