"""One open event travels from the real raw topic, through real worker and sender processes,
to a real aiohttp receiver."""
from __future__ import annotations

import uuid
from typing import Callable

import pytest

from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]


def test_open_reaches_receiver(project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[{"id": "l1", "url": receiver.url("/hook"), "events": ["open"],
                                      "trusted": True}])
    worker = project.start("worker", "-l", "info")
    sender = project.start("sender", name="sender")
    event_id = str(uuid.uuid4())
    project.produce(project.topics.raw["open"], "p1",
                    {"id": event_id, "type": "open", "occurred_at": "2026-11-26T10:00:00Z",
                     "database": "db", "profile": "p1", "recipient": "p1@example.org"})
    project.flush()
    calls = receiver.wait_for(lambda cs: any(c.json().get("event_id") == event_id for c in cs),
                              timeout_s=60, what="the open event")
    assert calls[0].method == "POST" and calls[0].path == "/hook"
    assert calls[0].json()["email"] == "p1@example.org"
    assert calls[0].headers["webhook-signature"].startswith("v1,")
    assert worker.proc.poll() is None and sender.proc.poll() is None
