"""Issue 4 on the real broker: a real sender process and real aiohttp receivers on 127.0.0.1.

Deliveries are written straight to fl.deliveries (as the enrich stage would), so each test
exercises the sender alone.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import orjson
import pytest
from standardwebhooks import Webhook

from tests.support.processes import Project, delivery_for, publish_loops
from tests.support.receiver import Receiver
from tests.support.topics import read_topic

pytestmark = [pytest.mark.kafka]

SHORT = {"retry_schedule_s": [1, 2, 3, 4], "retry_jitter": 0.0, "breaker_failures": 50}


def send(project: Project, loop_id: str, n: int = 1, **payload: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        d = delivery_for(loop_id, {"type": "open", "email": f"u{i}@example.org", **payload},
                         profile=f"p{i}")
        project.produce(project.topics.deliveries, f"{loop_id}|p{i}", d)
        out.append(d)
    project.flush()
    return out


def start_sender(project: Project) -> Any:
    sender = project.start("sender", name="sender")
    sender.wait_for_log("assigned", timeout_s=60)
    return sender


def test_fails_three_times_then_succeeds_once_with_stable_webhook_id(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(sender=SHORT)
    [loop] = publish_loops(project, [{"id": "flaky", "url": receiver.url("/f"),
                                      "events": ["open"], "trusted": True}])
    receiver.behave("/f", statuses=[500, 503, 502], default_status=204)
    start_sender(project)
    [d] = send(project, "flaky")
    calls = receiver.wait_for(lambda cs: len(cs) >= 4, timeout_s=60, what="4 attempts")
    time.sleep(2)
    calls = receiver.calls_to("/f")
    assert len(calls) == 4, "exactly one successful call after three failures"
    ids = {c.headers["webhook-id"] for c in calls}
    assert ids == {d["delivery_id"]}
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:])]
    for gap, planned in zip(gaps, [1, 2, 3]):
        assert planned - 0.2 <= gap <= planned + 1.5, f"gaps {gaps} do not follow [1, 2, 3]"
    attempts = [orjson.loads(m.value()) for m in read_topic(project, project.topics.attempts, 4)]
    assert [a["status"] for a in sorted(attempts, key=lambda a: a["attempt"])] == [500, 503, 502, 204]
    # the receiver can verify every attempt's signature with the standardwebhooks package
    wh = Webhook(loop["secrets"][0]["secret"])
    for call in calls:
        wh.verify(call.body, {k.lower(): v for k, v in call.headers.items()})


def test_400_goes_to_dead_letters_at_once(project_factory: Callable[..., Project],
                                          receiver: Receiver) -> None:
    project = project_factory(sender=SHORT)
    publish_loops(project, [{"id": "bad", "url": receiver.url("/bad"), "events": ["open"],
                             "trusted": True}])
    receiver.behave("/bad", default_status=400, body=b'{"error": "unknown field"}')
    start_sender(project)
    [d] = send(project, "bad")
    [dead] = read_topic(project, project.topics.dead, 1)
    doc = orjson.loads(dead.value())
    assert doc["delivery_id"] == d["delivery_id"] and len(doc["attempts"]) == 1
    assert doc["attempts"][0]["status"] == 400 and "400" in doc["final_reason"]
    time.sleep(2)
    assert len(receiver.calls_to("/bad")) == 1
    [attempt] = read_topic(project, project.topics.attempts, 1)
    assert "unknown field" in orjson.loads(attempt.value())["response"]


def test_410_disables_the_loop(project_factory: Callable[..., Project], receiver: Receiver) -> None:
    project = project_factory(sender=SHORT)
    publish_loops(project, [{"id": "gone", "url": receiver.url("/gone"), "events": ["open"],
                             "trusted": True}])
    receiver.behave("/gone", default_status=410)
    start_sender(project)
    send(project, "gone")
    ops = read_topic(project, project.topics.operations, 1)
    assert orjson.loads(ops[0].value())["type"] == "loop_disabled"
    loops = [orjson.loads(m.value()) for m in read_topic(project, project.topics.loops, 2)]
    assert loops[-1]["status"] == "disabled" and "410" in loops[-1]["disabled_reason"]
    send(project, "gone")  # a delivery for a disabled loop is not attempted
    dead = read_topic(project, project.topics.dead, 2)
    assert "disabled" in orjson.loads(dead[-1].value())["final_reason"]
    assert len(receiver.calls_to("/gone")) == 1


def test_429_retry_after_is_honoured(project_factory: Callable[..., Project],
                                     receiver: Receiver) -> None:
    project = project_factory(sender=SHORT)
    publish_loops(project, [{"id": "busy", "url": receiver.url("/busy"), "events": ["open"],
                             "trusted": True}])
    receiver.behave("/busy", statuses=[429], default_status=204, headers={"Retry-After": "3"})
    start_sender(project)
    send(project, "busy")
    calls = receiver.wait_for(lambda cs: len(cs) >= 2, timeout_s=30, what="the retry")
    assert calls[1].at - calls[0].at >= 2.9, "Retry-After: 3 must be waited for"


def test_ssrf_targets_are_refused_with_a_clear_error(project_factory: Callable[..., Project],
                                                     receiver: Receiver) -> None:
    project = project_factory(sender=SHORT, security={"allow_networks": []})
    port = receiver.port
    targets = {
        "loopback": f"http://127.0.0.1:{port}/x", "ten": "http://10.1.2.3/x",
        "metadata": "http://169.254.169.254/latest/meta-data/", "v6-loopback": f"http://[::1]:{port}/x",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/x", "decimal": f"http://2130706433:{port}/x",
        "octal": f"http://0177.0.0.1:{port}/x", "hex": f"http://0x7f.0.0.1:{port}/x",
        "resolves-private": f"http://localhost:{port}/x",
        # issue 9: these passed the old guard
        "as112": "http://192.175.48.1/x", "amt": "http://192.52.193.1/x",
        "nat64-public": "http://[64:ff9b::8.8.8.8]/x", "mapped-public": "http://[::ffff:8.8.8.8]/x",
        "sixtofour-public": "http://[2002:808:808::1]/x", "not-global-unicast": "http://[f000::1]/x",
    }
    publish_loops(project, [{"id": name, "url": url, "events": ["open"], "trusted": True}
                            for name, url in targets.items()])
    start_sender(project)
    for name in targets:
        send(project, name)
    attempts = [orjson.loads(m.value())
                for m in read_topic(project, project.topics.attempts, len(targets))]
    by_loop = {a["loop_id"]: a for a in attempts}
    assert set(by_loop) == set(targets)
    for name, attempt in by_loop.items():
        assert attempt["error_class"] == "SsrfRefused", (name, attempt)
        assert attempt["outcome"] == "dead" and attempt["reason"], (name, attempt)
    assert receiver.calls == []


def test_breaker_opens_and_auto_disable_fires(project_factory: Callable[..., Project],
                                              receiver: Receiver) -> None:
    project = project_factory(sender={**SHORT, "retry_schedule_s": [0.5] * 20,
                                      "breaker_failures": 3, "breaker_open_s": 30,
                                      "disable_after_s": 4})
    publish_loops(project, [{"id": "down", "url": receiver.url("/down"), "events": ["open"],
                             "trusted": True}])
    receiver.behave("/down", default_status=503)
    start_sender(project)
    send(project, "down", n=5)
    ops = read_topic(project, project.topics.operations, 1, timeout_s=60)
    event = orjson.loads(ops[0].value())
    assert event["type"] == "loop_disabled" and "failing continuously" in event["reason"]
    # the breaker kept calls away: the first wave (5 in flight at once) plus at most a probe,
    # while the deliveries' own histories show attempts skipped without a call
    calls = len(receiver.calls_to("/down"))
    assert calls <= 6
    logged = read_topic(project, project.topics.attempts, calls)
    assert len(logged) == calls, "the attempt log holds the calls made, not breaker skips"
    retries = [orjson.loads(m.value()) for t in project.topics.retry.values()
               for m in read_topic(project, t, 1, timeout_s=5)]
    skipped = [a for r in retries for a in r["attempts"] if a["error"] == "CircuitOpen"]
    assert skipped and all(a["status"] is None for a in skipped)
