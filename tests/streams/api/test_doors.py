"""One loop model at every door: the API (and the CLI, which calls the same control plane),
the YAML file, and the registry the router and the sender read accept and refuse exactly the
same loops, and name the same field."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import pytest

from schemas.loop import Loop
from senders.client import HttpClient
from senders.ssrf import SsrfPolicy
from streams.api.control import ControlPlane
from streams.api.inputs import InputError, parse_create
from streams.config.loading import ConfigError, parse_config
from streams.config.settings import KafkaConfig
from streams.kafka.loopstore import parse_loop
from streams.kafka.topics import Topics

SECRET_24 = "whsec_" + base64.b64encode(b"k" * 24).decode()
SECRET_64 = "whsec_" + base64.b64encode(b"k" * 64).decode()
SECRET_18 = "whsec_" + base64.b64encode(b"k" * 18).decode()  # the outside test's 25 characters
SECRET_65 = "whsec_" + base64.b64encode(b"k" * 65).decode()

BASE = {"url": "https://hooks.example.com/receive.php", "events": ["open"]}

#: (name, client fields beyond BASE, refused field or None when accepted)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("minimal", {}, None),
    ("every setting", {"database": "news", "collection": "orders", "encoding": "json-batch",
                       "fields": ["firstname"], "batch": {"max_events": 1000, "max_wait_ms": 60000},
                       "rate_per_s": 100000, "max_in_flight": 1000, "timeout_s": 120}, None),
    ("lowest limits", {"rate_per_s": 0.01, "max_in_flight": 1, "timeout_s": 0.1,
                       "batch": {"max_events": 1, "max_wait_ms": 1}}, None),
    ("rate 0", {"rate_per_s": 0}, "rate_per_s"),
    ("rate too high", {"rate_per_s": 100001}, "rate_per_s"),
    ("in flight 0", {"max_in_flight": 0}, "max_in_flight"),
    ("in flight 1001", {"max_in_flight": 1001}, "max_in_flight"),
    ("timeout too long", {"timeout_s": 121}, "timeout_s"),
    ("timeout too short", {"timeout_s": 0.05}, "timeout_s"),
    ("batch 1001", {"batch": {"max_events": 1001, "max_wait_ms": 10}}, "batch.max_events"),
    ("batch wait 0", {"batch": {"max_events": 10, "max_wait_ms": 0}}, "batch.max_wait_ms"),
    ("batch wait too long", {"batch": {"max_events": 10, "max_wait_ms": 60001}}, "batch.max_wait_ms"),
    ("unknown event", {"events": ["opne"]}, "events[0]"),
    ("no events", {"events": []}, "events"),
    ("ftp url", {"url": "ftp://hooks.example.com/x"}, "url"),
    ("url with credentials", {"url": "https://u:p@hooks.example.com/x"}, "url"),
    ("url with fragment", {"url": "https://hooks.example.com/x#y"}, "url"),
    ("bad encoding", {"encoding": "xml"}, "encoding"),
    ("empty database", {"database": ""}, "database"),
    ("secret of 24 bytes", {"secret": SECRET_24}, None),
    ("secret of 64 bytes", {"secret": SECRET_64}, None),
    ("secret of 18 bytes", {"secret": SECRET_18}, "secret"),
    ("secret of 65 bytes", {"secret": SECRET_65}, "secret"),
    ("secret without prefix", {"secret": SECRET_24[6:]}, "secret"),
    # the outside test's: passed the API and the schema, then the sender refused it
    ("secret of 25 base64 characters", {"secret": "whsec_" + "Ab3" * 8 + "x"}, "secret"),
    ("loop id is generated", {}, None),
]


def _names(cases: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
    return [name for name, _, _ in cases]


class MemoryStore:
    """The LoopStore's surface, in memory: enough for the control plane's writes."""

    def __init__(self) -> None:
        self.loops: dict[str, Loop] = {}

    def get(self, loop_id: str) -> Loop | None:
        return self.loops.get(loop_id)

    def all(self) -> list[Loop]:
        return list(self.loops.values())

    async def put(self, loop: Loop) -> Loop:
        self.loops[loop.id] = loop
        return loop


def api_door(fields: dict[str, Any]) -> Loop:
    """POST /loops and `feedbackloops loops add`: parse_create, then the control plane."""
    control = ControlPlane(MemoryStore(), HttpClient(SsrfPolicy()), KafkaConfig(),  # type: ignore[arg-type]
                           Topics(KafkaConfig()))
    return asyncio.run(control.create(parse_create({**BASE, **fields})))


def yaml_door(fields: dict[str, Any]) -> None:
    parse_config({"loops": [{"id": "crm", **BASE, **fields}]})


def registry_door(doc: dict[str, Any]) -> Loop:
    """What the router and the sender see: a fl.loops record through parse_loop."""
    return parse_loop(orjson.dumps(doc))


@pytest.mark.parametrize(("name", "fields", "refused"), CASES, ids=_names(CASES))
def test_every_door_agrees(name: str, fields: dict[str, Any], refused: str | None) -> None:
    if refused is None:
        loop = api_door(fields)
        yaml_door(fields)
        assert registry_door(loop.to_doc()) == loop
        return
    with pytest.raises(InputError) as api:
        api_door(fields)
    assert api.value.field == refused
    with pytest.raises(ConfigError) as yaml:
        yaml_door(fields)
    assert str(yaml.value).startswith(f"loops[0].{refused}:")
    # the registry refuses the document the API would have written, at the same place
    accepted = api_door({})
    doc = accepted.to_doc()
    if refused == "secret":
        doc["secrets"] = [{"secret": fields["secret"], "expires_at": None}]
    else:
        doc.update(fields)
    with pytest.raises(ValueError) as registry:
        registry_door(doc)
    field = getattr(registry.value, "field", None)
    assert field == ("secrets[0].secret" if refused == "secret" else refused)


def test_defaults_are_the_schemas_at_every_door() -> None:
    from schemas.loop import DEFAULTS

    made = api_door({})
    config = parse_config({"loops": [{"id": "crm", **BASE, "trusted": True}]})
    from streams.worker.declared import definition_from_decl

    declared = definition_from_decl(config.loops[0], None)
    for loop in (made, declared):
        assert loop.rate_per_s == DEFAULTS["rate_per_s"]
        assert loop.max_in_flight == DEFAULTS["max_in_flight"]
        assert loop.timeout_s == DEFAULTS["timeout_s"]
        assert loop.encoding == DEFAULTS["encoding"]
        assert (loop.batch.max_events, loop.batch.max_wait_ms) == \
            (DEFAULTS["batch"]["max_events"], DEFAULTS["batch"]["max_wait_ms"])


def test_the_openapi_document_states_the_models_limits_and_defaults() -> None:
    from pathlib import Path

    import yaml

    from schemas.loop import limit

    spec = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    props = schemas["LoopCreate"]["properties"]
    batch = schemas["Batch"]["properties"]
    for name, where in (("rate_per_s", props), ("max_in_flight", props), ("timeout_s", props),
                        ("max_events", batch), ("max_wait_ms", batch)):
        model_name = f"batch.{name}" if where is batch else name
        for bound in ("minimum", "exclusiveMinimum", "maximum"):
            try:
                expected = limit(model_name, bound)
            except KeyError:
                assert bound not in where[name], (name, bound)
                continue
            assert where[name][bound] == expected, (name, bound)
    from schemas.loop import DEFAULTS

    for name in ("rate_per_s", "max_in_flight", "timeout_s", "encoding"):
        assert props[name]["default"] == DEFAULTS[name], name
    assert batch["max_events"]["default"] == DEFAULTS["batch"]["max_events"]
