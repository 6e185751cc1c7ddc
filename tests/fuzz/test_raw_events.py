"""Raw events: validation and the whole enrich step refuse bad input with a reason, never an
exception; every refusal is one ``fl.invalid`` record carrying the reason and the source."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from schemas.errors import InvalidRecord
from schemas.validation import parse_profile, parse_raw_event, parse_tags
from streams.config.loading import parse_config
from streams.kafka.registry import StaticView
from streams.kafka.topics import Topics
from streams.metrics import PipelineMetrics
from streams.worker.enrichment import Enricher
from tests.schemas.examples import mailing_tags, profile_snapshot, valid_raw_events

from .conftest import TRIED
from .strategies import dumps, json_values, mutated

pytestmark = pytest.mark.fuzz

VALID = valid_raw_events()
TOPICS = Topics(parse_config({}).kafka)


def _check_refusal(exc: InvalidRecord) -> None:
    assert exc.reason and "\n" not in exc.reason
    if exc.field is not None:
        assert exc.field and exc.field.split(".")[0].split("[")[0] in exc.reason


def _parse(target: str, parse: Any, data: bytes) -> None:
    TRIED[target] += 1
    try:
        doc = parse(data)
    except InvalidRecord as exc:
        _check_refusal(exc)
    else:
        assert isinstance(doc, dict)


@given(st.binary(max_size=600))
def test_any_bytes(data: bytes) -> None:
    _parse("raw event: bytes", parse_raw_event, data)


@given(json_values)
def test_any_json(doc: Any) -> None:
    _parse("raw event: JSON", parse_raw_event, dumps(doc))


@given(st.sampled_from(sorted(VALID)).flatmap(lambda name: mutated(VALID[name])))
def test_valid_events_with_something_broken(doc: dict[str, Any]) -> None:
    _parse("raw event: mutated", parse_raw_event, dumps(doc))


@given(st.one_of(st.binary(max_size=300), mutated(profile_snapshot()).map(dumps)))
def test_profiles(data: bytes) -> None:
    _parse("profile snapshot", parse_profile, data)


@given(st.one_of(st.binary(max_size=300), mutated(mailing_tags()).map(dumps)))
def test_tags(data: bytes) -> None:
    _parse("mailing tags", parse_tags, data)


def _enricher() -> Enricher:
    loops: StaticView[Any] = StaticView()
    tags: StaticView[dict[str, Any]] = StaticView()
    return Enricher(TOPICS, loops, tags, PipelineMetrics(CollectorRegistry()))  # type: ignore[arg-type]


ENRICHER = _enricher()
SOURCES = [*TOPICS.raw.values(), TOPICS.ref_profiles]


@given(topic=st.sampled_from(SOURCES),
       key=st.one_of(st.none(), st.binary(max_size=20), st.sampled_from([b"p-1", b"anna@example.com"])),
       value=st.one_of(st.none(), st.binary(max_size=300),
                       st.sampled_from(sorted(VALID)).flatmap(lambda n: mutated(VALID[n]))
                       .map(dumps),
                       st.sampled_from(sorted(VALID)).map(lambda n: dumps(VALID[n]))))
def test_the_enrich_step_never_raises(topic: str, key: bytes | None, value: bytes | None) -> None:
    TRIED["enrich step"] += 1
    table: dict[bytes, bytes] = {}
    out = ENRICHER.handle(topic, 3, 42, 1_000, key, value, table)
    invalid = [r for r in out if r.topic == TOPICS.invalid]
    if invalid:
        [record] = out  # a refused record causes nothing else
        headers = dict(record.headers or [])
        assert headers["fl-reason"] and headers["fl-source-topic"] == topic.encode()
        # the catch-all for bugs must not be what refused it
        assert not headers["fl-reason"].startswith(b"internal error"), headers["fl-reason"]
        assert headers["fl-source-offset"] == b"42"
        assert (record.key, record.value) == (key, value)  # the original bytes, unchanged
