"""`partitions scale`'s requests and the state they are checked against (no Kafka: the
control view's reads and writes are replaced by an in-memory twin)."""
from __future__ import annotations

from typing import Any

import pytest

from streams.errors import InputError
from streams.kafka.generations import (Next, Request, ScaleState, generation_topics,
                                       parse_state)
from streams.kafka.topics import Topics
from streams.config.loading import parse_config
from streams.ops.scaling import ask_cancel, ask_scale, describe, outcome_of


class Twin:
    """The surface of ControlView that ops.scaling uses."""

    def __init__(self, state: ScaleState | None) -> None:
        self._state = state
        self._request: Request | None = None
        self.cancelled: list[str] = []

    def state(self) -> ScaleState | None:
        return self._state

    def request(self) -> Request | None:
        return self._request

    def request_scale(self, partitions: int) -> Request:
        self._request = Request(f"r{partitions}", partitions, 1)
        return self._request

    def request_cancel(self, request_id: str) -> Request:
        self.cancelled.append(request_id)
        return Request(request_id, 0, 1)


def ask(twin: Twin, n: int) -> Any:
    return ask_scale(twin, n)  # type: ignore[arg-type]


def test_a_scale_is_refused_naming_the_field_when_it_cannot_be_done() -> None:
    with pytest.raises(InputError, match="no worker has started in repartition mode") as exc:
        ask(Twin(None), 8)
    assert exc.value.field == "partitions"
    twin = Twin(ScaleState(serving=1, partitions=4))
    for bad in (0, 1025):
        with pytest.raises(InputError, match="must be 1..1024"):
            ask(twin, bad)
    with pytest.raises(InputError, match="already has 4 partitions"):
        ask(twin, 4)
    assert ask(twin, 8).partitions == 8
    with pytest.raises(InputError, match="waits for the workers' coordinator"):
        ask(twin, 16)  # the first is not picked up yet: one at a time


def test_one_scale_at_a_time_and_cancel_only_before_the_cut_over() -> None:
    building = ScaleState(serving=1, partitions=4,
                          next=Next(generation=2, partitions=8, request_id="r8"))
    twin = Twin(building)
    with pytest.raises(InputError, match="already building"):
        ask(twin, 16)
    assert ask_cancel(twin).id == "r8"  # type: ignore[arg-type]
    cutting = building.replace(next=Next(generation=2, partitions=8, request_id="r8",
                                         phase="cutting"))
    with pytest.raises(InputError, match="past its cut-over"):
        ask_cancel(Twin(cutting))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no scale is running"):
        ask_cancel(Twin(ScaleState(serving=1, partitions=4)))  # type: ignore[arg-type]


def test_the_state_round_trips_and_describes_its_progress() -> None:
    nxt = Next(generation=3, partitions=16, request_id="r", copy_total=200, copied=50,
               copy_positions={"c/0": 10}, copy_targets={"c/0": 20})
    state = ScaleState(serving=2, partitions=8, next=nxt, retired=(1,), handled=("a",),
                       highest=3)
    again = parse_state(state.encode())
    assert again == state
    shown = describe(again)
    assert shown["generation"] == 2 and shown["partitions"] == 8
    assert shown["scaling"]["phase"] == "building" and shown["scaling"]["cancellable"]
    assert shown["scaling"]["progress"] == pytest.approx(0.98 * 50 / 200, abs=1e-4)
    done = ScaleState(serving=3, partitions=16, handled=("r",),
                      last={"request": "r", "outcome": "done", "cut_over_s": 1.5})
    assert outcome_of(done, "r") == done.last and outcome_of(state, "r") is None
    with pytest.raises(ValueError):
        parse_state(b'{"serving": 1}')


def test_generation_names_carry_the_prefix_and_the_app_id() -> None:
    config = parse_config({"kafka": {"topic_prefix": "x."}, "worker": {"app_id": "fl"}})
    names = generation_topics(Topics.for_config(config), 3)
    assert names.events == "x.fl.gen3.events" and names.profiles == "x.fl.gen3.profiles"
    assert names.group == "fl-g3"
    assert names.changelogs == ("x.fl-g3-profiles-changelog", "x.fl-g3-soft-bounces-changelog")
    specs = {s.name: s for s in names.specs(8, 168, 1_000_000)}
    assert all(s.partitions == 8 for s in specs.values())
    assert not specs[names.events].compacted and specs[names.profiles].compacted
