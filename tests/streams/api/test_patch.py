"""PATCH /loops/{id} (README "Control API and CLI"): ``status`` re-enables a loop the sender
disabled, and a new URL clears the ownership proof so nothing is delivered until it is
validated again (the control plane over an in-memory store; the API runs it unchanged)."""
from __future__ import annotations

import asyncio
import dataclasses
import time

from senders.client import HttpClient
from senders.ssrf import SsrfPolicy
from streams.api.control import ControlPlane
from streams.api.inputs import parse_create, parse_patch
from streams.config.settings import KafkaConfig
from streams.kafka.topics import Topics
from tests.streams.api.test_doors import MemoryStore

URL = "https://hooks.example.com/receive.php"


def test_status_re_enables_a_disabled_loop_and_a_new_url_clears_validation() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        control = ControlPlane(store, HttpClient(SsrfPolicy()), KafkaConfig(),  # type: ignore[arg-type]
                               Topics(KafkaConfig()))
        created = await control.create(parse_create({"url": URL, "events": ["open"]}))
        assert created.validation is not None and not created.deliverable
        proven = dataclasses.replace(created.validation, validated_at=time.time(),
                                     validated_url=URL, method="file")
        # what the sender writes after a 410: disabled, with the reason
        await store.put(created.changed(validation=dataclasses.asdict(proven),
                                        status="disabled", disabled_reason="410 Gone"))
        assert not store.loops[created.id].deliverable

        enabled = await control.patch(created.id, parse_patch({"status": "enabled"}))
        assert (enabled.status, enabled.disabled_reason) == ("enabled", None)
        assert enabled.deliverable

        moved = await control.patch(created.id, parse_patch({"url": URL + "?v=2"}))
        assert moved.validation is not None and not moved.validated and not moved.deliverable
        assert moved.validation.file_name == created.validation.file_name, "same challenge"

    asyncio.run(scenario())
