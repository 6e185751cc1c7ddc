"""The re-key stage's pure parts: which key a raw event gets, which generation a record goes
to around a cut-over, and the worker reading the raw coordinates back."""
from __future__ import annotations

import orjson

from streams.kafka.generations import Cut, Next, ScaleState
from streams.worker.repartition import SKIP, route, routing_key
from streams.worker.sources import raw_origin

TP = ("fl.raw.opens", 2)


def test_events_are_keyed_by_profile_else_recipient_whatever_their_key() -> None:
    assert routing_key(orjson.dumps({"profile": "p1", "recipient": "a@x"}), b"other") == b"p1"
    assert routing_key(orjson.dumps({"recipient": "a@x"}), None) == b"a@x"
    # nothing to key by: the record keeps its key and the worker refuses it with its reason
    assert routing_key(b"not json", b"k") == b"k"
    assert routing_key(orjson.dumps([1, 2]), b"k") == b"k"
    assert routing_key(orjson.dumps({"profile": ""}), b"k") == b"k"
    assert routing_key(None, b"k") == b"k"


def serving(next_: Next | None = None) -> ScaleState:
    return ScaleState(serving=1, partitions=4, next=next_)


def cutting(cut_at_ms: int = 1000, phase: str = "cutting") -> ScaleState:
    return serving(Next(generation=2, partitions=8, request_id="r", phase=phase,
                        cut_at_ms=cut_at_ms))


def test_the_serving_generation_gets_everything_until_the_cut() -> None:
    switched: dict[tuple[str, int], int] = {}
    assert route(serving(), None, switched, TP, 5, 10**12) == 1
    building = serving(Next(generation=2, partitions=8, request_id="r"))
    assert route(building, None, switched, TP, 5, 10**12) == 1
    assert switched == {}


def test_a_partition_switches_at_its_first_record_stamped_at_the_cut_time() -> None:
    switched: dict[tuple[str, int], int] = {}
    state = cutting(cut_at_ms=1000)
    assert route(state, None, switched, TP, 10, 999) == 1
    assert route(state, None, switched, TP, 11, 1000) == 2
    assert switched == {TP: 11}
    # once switched, an earlier stamp (a producer's clock) still goes to the new generation
    assert route(state, None, switched, TP, 12, 500) == 2
    # other partitions switch on their own records
    assert route(state, None, switched, ("fl.raw.opens", 0), 3, 999) == 1


def test_a_recorded_cut_decides_for_whoever_owns_the_partition_later() -> None:
    cut = Cut(generation=2, offset=50)
    for phase in ("cutting", "draining"):
        state = cutting(cut_at_ms=10**15, phase=phase)  # its own clock rule would say "old"
        assert route(state, cut, {}, TP, 49, 10**12) == SKIP  # durable in generation 1
        assert route(state, cut, {}, TP, 50, 0) == 2
    # after the switch the cut still keeps a re-read of records before it out
    after = ScaleState(serving=2, partitions=8)
    assert route(after, cut, {}, TP, 49, 0) == SKIP
    assert route(after, cut, {}, TP, 50, 0) == 2
    # a cut of an older scale does not hold a new one back
    old = Cut(generation=1, offset=10)
    assert route(cutting(cut_at_ms=0), old, {}, TP, 60, 0) == 2


def test_the_worker_names_the_raw_record_behind_a_rekeyed_one() -> None:
    headers = [("fl-replay", b"x"), ("fl-src", b"t1.fl.raw.opens/2/12345")]
    assert raw_origin(headers, "fl.gen1.events", 0, 7) == ("t1.fl.raw.opens", 2, 12345)
    assert raw_origin({"fl-src": b"fl.ref.profiles/0/3"}, "g", 1, 1) == ("fl.ref.profiles", 0, 3)
    assert raw_origin(None, "fl.raw.opens", 1, 9) == ("fl.raw.opens", 1, 9)
