"""One open event travels from the real raw topic, through real worker and sender processes,
to a real aiohttp receiver."""
from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
import uuid
from typing import Any, Callable

import pytest
from standardwebhooks import Webhook

from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]


SECRET = "whsec_" + base64.b64encode(b"a-secret-that-must-not-leak!").decode()
TOKEN = "token-that-must-not-leak-0123"


def scrape(proc: Any, marker: str) -> str:
    port = re.search(re.escape(marker) + r" http://127\.0\.0\.1:(\d+)", proc.log())
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_open_reaches_receiver(project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(loops=[{"id": "l1", "url": receiver.url("/hook"), "events": ["open"],
                                      "trusted": True, "secret": SECRET}],
                              api={"port": 0, "tokens": [TOKEN]},
                              worker={"json_logs": True, "log_level": "debug"})
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
    Webhook(SECRET).verify(calls[0].body, {k.lower(): v for k, v in calls[0].headers.items()})
    # both processes count what happened on /metrics
    time.sleep(2.5)  # the sender refreshes its gauges every 2 s
    worker_metrics = scrape(worker, "worker api listening on")
    assert re.search(r'fl_events_in_total\{topic="[^"]*fl.raw.opens"\} 1.0', worker_metrics)
    assert 'fl_routed_total{event_type="open"} 1.0' in worker_metrics
    sender_metrics = scrape(sender, "sender metrics listening on")
    assert 'fl_delivered_events_total{loop="l1"} 1.0' in sender_metrics
    assert 'fl_deliveries_total{loop="l1",outcome="delivered"} 1.0' in sender_metrics
    assert 'fl_dead_letters_total{loop="l1"} 0.0' in sender_metrics
    assert re.search(r'fl_consumer_lag\{partition="\d",topic="[^"]*fl.deliveries"\} 0.0', sender_metrics)
    # secrets never appear in logs (debug level, both processes); logs are JSON lines
    worker.stop()
    sender.stop()
    for proc in (worker, sender):
        text = proc.log()
        assert SECRET not in text and SECRET[6:] not in text and TOKEN not in text
    lines = [ln for ln in sender.log().splitlines() if ln.strip()]
    assert lines and all(json.loads(ln)["level"] for ln in lines if ln.startswith("{"))
    assert sum(ln.startswith("{") for ln in lines) >= len(lines) - 2
