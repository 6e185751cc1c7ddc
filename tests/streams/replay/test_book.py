"""A replay's status folds its records in fl.replays: request, progress, cancel, lane counts."""
from __future__ import annotations

from typing import Any

import pytest

from streams.config.loading import parse_config
from streams.kafka.registry import StaticView
from streams.replay.book import ReplayBook, ReplayNotFound, replay_partition


def book(records: dict[str, dict[str, Any]]) -> ReplayBook:
    b = ReplayBook(parse_config({}).kafka, "fl.replays")
    b.view = StaticView(records)  # type: ignore[assignment]
    return b


REQUEST = {"id": "rp_1", "loop_id": "lp", "since_ms": 1, "until_ms": 2, "records": 10,
           "spans": [["t", 0, 0, 10]], "created_at": 5.0, "dry_run": False}


def test_pending_until_a_replayer_reports() -> None:
    status = book({"rp_1": REQUEST}).status("rp_1")
    assert status["state"] == "pending" and status["routed"] == 0 and "spans" not in status


def test_lane_counts_of_every_instance_add_up() -> None:
    b = book({"rp_1": REQUEST,
              "rp_1/progress": {"state": "routed", "read": 10, "selected": 8, "routed": 8},
              "rp_1/lane/a": {"delivered": 5, "failed": 1},
              "rp_1/lane/b": {"delivered": 1}})
    status = b.status("rp_1")
    assert (status["delivered"], status["failed"], status["state"]) == (6, 1, "sending")
    b.view.put("rp_1/lane/b", {"delivered": 2})  # type: ignore[attr-defined]
    assert b.status("rp_1")["state"] == "done"


@pytest.mark.parametrize("runner, expected", [("running", "cancelling"),
                                              ("cancelled", "cancelled"),
                                              ("pending", "cancelled")])
def test_cancel(runner: str, expected: str) -> None:
    b = book({"rp_1": REQUEST, "rp_1/progress": {"state": runner},
              "rp_1/cancel": {"cancelled_at": 9.0}})
    assert b.status("rp_1")["state"] == expected
    assert b.cancelled("rp_1")


def test_dry_run_is_done_when_read() -> None:
    b = book({"rp_1": {**REQUEST, "dry_run": True},
              "rp_1/progress": {"state": "routed", "selected": 8}})
    assert b.status("rp_1")["state"] == "done"


def test_unknown_and_listing() -> None:
    b = book({"rp_2": {**REQUEST, "id": "rp_2", "created_at": 9.0}, "rp_1": REQUEST})
    assert b.ids() == ["rp_1", "rp_2"]
    with pytest.raises(ReplayNotFound):
        b.status("rp_3")


def test_all_records_of_a_replay_share_a_partition() -> None:
    assert replay_partition("rp_1", 8) == replay_partition("rp_1", 8)
    assert len({replay_partition(f"rp_{i}", 8) for i in range(50)}) > 1
