"""The statistics' counting (streams/stats/counting.py) takes any record the topics may hold:
no exception (the aggregator would restart on the same record forever), every record that
names what it counts is counted, and no dimension is made of a value that is not a string."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.stats.counting import Dim, Tally, encode_deltas
from streams.stats.view import StatsView
from tests.schemas.examples import valid_raw_events

from .conftest import TRIED
from .strategies import dumps, json_values, mutated

pytestmark = pytest.mark.fuzz

T0 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000
VALID = valid_raw_events()
DELIVERY: dict[str, Any] = {"delivery_id": "d1", "loop_id": "L", "event_id": "e1", "event_type": "click",
            "profile": "p3", "recipient": None, "source_ts_ms": T0, "routed_ms": T0 + 5,
            "payload": {**VALID["click"], "collection": "c1"}, "attempts": []}
ATTEMPT: dict[str, Any] = {"loop_id": "L", "delivery_id": "d1", "event_id": "e1", "event_type": "click",
           "attempt": 1, "at_ms": T0 + 90, "outcome": "delivered", "status": 200,
           "latency_ms": 4.5, "error_class": None, "reason": None, "response": "",
           "database": "newsletter", "collection": "c1", "source_ts_ms": T0}


def _counted(tally: Tally) -> dict[Dim, dict[str, float]]:
    """The one minute's rows, after a round trip through ``fl.stats`` records and a view
    (what the API reads); every dimension is checked to be made of strings."""
    deltas = tally.take()
    view = StatsView(None, "unused")  # type: ignore[arg-type]
    for _, value in encode_deltas(deltas):
        view.apply(value)
    rows = deltas.get(T0, {})
    assert set(deltas) <= {T0}
    for dim in rows:
        assert all(type(part) is str for part in dim), dim
    assert view.series("1m", list(rows), 1, now_ms=T0)[0]["start_ms"] == T0
    return rows


def _where_of(doc: Any) -> tuple[Any, Any]:
    if not isinstance(doc, dict):
        return None, None
    return doc.get("database"), doc.get("collection")


def _check_scopes(rows: dict[Dim, dict[str, float]], doc: Any) -> None:
    """Database and collection dims only from string values of the record."""
    database, collection = _where_of(doc)
    for dim in rows:
        if dim[:1] == ("db",):
            assert dim[1] == database
            if dim[2:3] == ("coll",):
                assert dim[3] == collection


raw_docs = st.one_of(json_values, st.sampled_from(sorted(VALID)).flatmap(
    lambda name: mutated(VALID[name])))


@given(raw_docs)
def test_any_raw_event(doc: Any) -> None:
    TRIED["stats: raw event"] += 1
    tally = Tally()
    tally.raw(("clicks", 0), T0 + 1, dumps(doc))
    tally.raw(("clicks", 0), T0 + 2, dumps(doc), count=False)
    rows = _counted(tally)
    counted = isinstance(doc, dict) and isinstance(doc.get("type"), str)
    assert rows.get((), {}).get("in", 0) == (1 if counted else 0)
    _check_scopes(rows, doc)
    for dim, metrics in rows.items():
        if "mailing" in dim:
            assert dim[3] == doc["mailing"] and set(metrics) <= {
                "opens", "clicks", "u1m_opens", "u1h_opens", "u1d_opens",
                "u1m_clicks", "u1h_clicks", "u1d_clicks"}


@given(st.one_of(json_values, mutated(DELIVERY),
                 mutated(DELIVERY).map(lambda d: {**d, "payload": ATTEMPT})))
def test_any_delivery_record(doc: Any) -> None:
    TRIED["stats: delivery record"] += 1
    tally = Tally()
    tally.delivery(T0 + 1, dumps(doc), "routed")
    rows = _counted(tally)
    loop_id = doc.get("loop_id") if isinstance(doc, dict) else None
    assert rows.get((), {}).get("routed", 0) == (1 if isinstance(loop_id, str) else 0)
    _check_scopes(rows, doc.get("payload") if isinstance(doc, dict) else None)
    for dim in rows:
        if dim[:1] == ("loop",):
            assert dim[1] == loop_id


@given(st.one_of(json_values, mutated(ATTEMPT)))
def test_any_attempt_record(doc: Any) -> None:
    TRIED["stats: attempt record"] += 1
    tally = Tally()
    tally.attempt(T0 + 1, dumps(doc))
    rows = _counted(tally)
    loop_id = doc.get("loop_id") if isinstance(doc, dict) else None
    everything = rows.get((), {})
    if isinstance(loop_id, str):
        assert everything.get("delivered", 0) + everything.get("errors", 0) == 1
        delivered = doc.get("outcome") == "delivered"
        assert rows[("loop", loop_id)].get("last_ms") == (T0 + 1 if delivered else None)
    else:
        assert not rows
    _check_scopes(rows, doc)


@given(st.one_of(st.binary(max_size=200), raw_docs.map(dumps)),
       st.sampled_from([None, "open", ""]))
def test_any_invalid_record(data: bytes, source_type: str | None) -> None:
    TRIED["stats: invalid record"] += 1
    tally = Tally()
    tally.invalid(T0 + 1, source_type, data)
    assert _counted(tally)[()]["invalid"] == 1
