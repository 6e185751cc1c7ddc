"""Statistics against a running worker and sender: the counts equal what a real receiver
counted, per loop, per database and per event type; uniques per mailing and link; a load
warning names its numbers."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

import pytest
from standardwebhooks import Webhook

from streams.demo.events import DemoWorld
from tests.support.api import Api
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

TOKEN = "stats-token-0123456789abcdef"


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


def test_counts_equal_what_the_receiver_counted(project_factory: Callable[..., Project],
                                               receiver: Receiver) -> None:
    project = project_factory(api={"port": 0, "tokens": [TOKEN]},
                              stats={"flush_s": 0.5, "summary_delay_s": 1})
    worker = project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    api = Api.of(worker, TOKEN)
    made = api.call("POST", "/loops", {"url": receiver.url("/stats/hook"),
                                       "events": ["open", "click"], "database": "sdb",
                                       "rate_per_s": 1})
    assert made.status == 201, made.body
    loop = made.body
    challenge = loop["validation"]
    receiver.files[f"/{challenge['file_name']}"] = (200, challenge["content"].encode())
    assert api.call("POST", f"/loops/{loop['id']}/validate").body["validated"]
    summary = api.call("POST", "/loops", {"url": receiver.url("/stats/summary"),
                                          "events": ["open", "click"], "database": "sdb",
                                          "delivery": "summary", "summary_every": "1m"}).body
    c = summary["validation"]
    receiver.files[f"/{c['file_name']}"] = (200, c["content"].encode())
    assert api.call("POST", f"/loops/{summary['id']}/validate").body["validated"]
    # a receiver that refuses the first two calls: two retries, then deliveries
    receiver.behave("/stats/hook", statuses=[503, 503], default_status=204)

    world = DemoWorld(profiles=4, databases=("sdb",), seed=11)
    for profile in world.profiles:
        project.produce(project.topics.ref_profiles, profile["id"], profile)
    events = [world.event("open") for _ in range(14)] + [world.event("click") for _ in range(6)]
    other = DemoWorld(profiles=1, databases=("otherdb",), seed=12)
    events += [other.event("open") for _ in range(3)]  # no loop asks: in, not routed
    for e in events:
        project.produce(project.topics.raw[e["type"]], e["profile"], e)
    project.produce(project.topics.raw["open"], "bad", b"{not json")  # invalid
    project.flush()
    mine = [e for e in events if e["database"] == "sdb"]
    # every event answered 2xx: the two refused calls were retried (5 s later)
    calls = receiver.wait_for(
        lambda cs: len([c for c in cs if c.path == "/stats/hook" and c.method == "POST"])
        == len(mine) + 2, timeout_s=120, what="every event delivered")
    posts = [c for c in calls if c.path == "/stats/hook" and c.method == "POST"]
    delivered_by_type = Counter(c.json()["type"] for c in posts[2:])

    def loop_total() -> Any:
        answer = api.call("GET", f"/loops/{loop['id']}/stats?window=1h&last=2")
        if answer.status != 200:
            return None
        total = answer.body["total"]
        return answer.body if total["delivered"] == len(posts) - 2 else None

    body = wait_until(loop_total, 60, "the loop's statistics to show every delivery")
    total = body["total"]
    assert total["routed"] == len(mine) and total["retried"] == 2 and total["errors"] == 2
    assert total["dead"] == 0 and total["latency_ms"]["p50"] is not None
    assert total["last_delivery_ms"] > 0
    # per event type within the loop
    for etype, n in delivered_by_type.items():
        typed = api.call("GET", f"/stats?loop={loop['id']}&event={etype}&window=1h&last=2").body
        assert typed["total"]["delivered"] == n, (etype, typed["total"])
    # per database: everything that came in, routed or not
    sdb = api.call("GET", "/stats?database=sdb&window=1h&last=2").body
    assert sdb["total"]["in"] == len(mine)
    by_type = [api.call("GET", f"/stats?database=sdb&event={t}&window=1h&last=2").body["total"]
               for t in ("open", "click")]  # (summary calls are deliveries of sdb too)
    assert sum(t["delivered"] for t in by_type) == len(posts) - 2
    assert api.call("GET", "/stats?database=otherdb&window=1h&last=2").body["total"]["in"] == 3
    everything = wait_until(lambda: (b := api.call("GET", "/stats?window=1h&last=2").body)
                            ["total"]["invalid"] >= 1 and b, 30, "the invalid record counted")
    assert everything["total"]["in"] == len(events) and everything["total"]["invalid"] == 1
    # per mailing and link, unique = distinct profiles
    by_mailing: dict[str, Counter[str]] = {}
    for e in mine:
        by_mailing.setdefault(e["mailing"], Counter())[e["type"]] += 1
    shown = {m["mailing"]: m for m in sdb["mailings"]}
    for mailing, counts in by_mailing.items():
        assert shown[mailing]["opens"] == counts["open"], shown[mailing]
        assert shown[mailing]["clicks"] == counts["click"]
        assert shown[mailing]["unique_opens"] == len({e["profile"] for e in mine if e["mailing"]
                                                      == mailing and e["type"] == "open"})
        for link in shown[mailing]["links"]:
            clickers = [e for e in mine if e.get("link") == link["link"]]
            assert link["clicks"] == len(clickers)
            assert link["unique_clicks"] == len({e["profile"] for e in clickers})
    # a second loop on the same events whose rate_per_s (0.1/s) cannot keep up with the
    # database's 14 opens in one minute: projected from what came in, before any delivery
    slow = api.call("POST", "/loops", {"url": receiver.url("/stats/slow"), "events": ["open"],
                                       "database": "sdb", "rate_per_s": 0.1}).body
    slow_stats = api.call("GET", f"/loops/{slow['id']}/stats").body
    [warning] = slow_stats["warnings"]
    assert warning["capacity_per_s"] == 0.1 and warning["observed_per_s"] == 0
    assert warning["projected_per_s"] == round(14 / 60, 2)
    assert "json-batch" in warning["message"] and "summary" in warning["message"]
    assert body["warnings"] == []  # 20 events in a minute fit the first loop's 1/s
    # the command line reads the same numbers from fl.stats
    import json
    import subprocess
    import sys
    cli = subprocess.run([sys.executable, "-m", "streams", "--config", str(project.config_path),
                          "stats", loop["id"], "--window", "1h", "--last", "2", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["total"]["delivered"] == len(posts) - 2
    table = subprocess.run([sys.executable, "-m", "streams", "--config", str(project.config_path),
                            "stats", "--database", "sdb", "--window", "1h", "--last", "1"],
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "delivered" in table.stdout and "mailing m" in table.stdout
    per_loop = api.call("GET", "/stats/loops?window=1h&last=2").body["loops"]
    assert per_loop[loop["id"]]["delivered"] == len(posts) - 2
    assert per_loop[slow["id"]]["warnings"][0]["projected_per_s"] == warning["projected_per_s"]

    # the summary loop got no call per event, but signed calls per minute with the counts
    def summaries() -> list[Any]:
        got = [c for c in receiver.calls_to("/stats/summary") if c.method == "POST"]
        opens = sum(c.json()["events"]["open"] for c in got)
        return got if opens == 14 else []

    got = wait_until(summaries, 150, "summary calls covering every open")
    assert sum(c.json()["events"]["click"] for c in got) == 6
    for call in got:
        doc = call.json()
        headers = {k.lower(): v for k, v in call.headers.items()}
        Webhook(summary["secrets"][0]["secret"]).verify(call.body, headers)
        assert doc["type"] == "summary" and doc["window"] == "1m" and doc["database"] == "sdb"
        assert doc["end_ms"] - doc["start_ms"] == 60_000
    mailing_opens = Counter()
    for call in got:
        for m in call.json().get("mailings", []):
            mailing_opens[m["mailing"]] += m["opens"]
    assert mailing_opens == Counter({m: n["open"] for m, n in by_mailing.items() if n["open"]})


def test_a_killed_worker_neither_loses_nor_double_counts(project_factory: Callable[..., Project]) -> None:
    """kill -9 of the worker (and its statistics process) while events stream in: the counts
    committed with the input offsets are exact once a new worker has caught up."""
    project = project_factory(api={"port": 0, "tokens": [TOKEN]}, stats={"flush_s": 0.5})
    first = project.start("worker", "-l", "info")
    Api.of(first, TOKEN)
    world = DemoWorld(profiles=50, databases=("kdb",), seed=31)
    events = [world.event("open") for _ in range(4000)]
    for i, e in enumerate(events):
        project.produce(project.topics.raw["open"], e["profile"], e)
        if i % 200 == 199:
            project.flush()
            time.sleep(0.05)
        if i == 2000:
            first.kill()  # the worker's process group: its statistics child too
    project.flush()
    api = Api.of(project.start("worker", "-l", "info"), TOKEN)

    def counted() -> Any:
        answer = api.call("GET", "/stats?database=kdb&window=1d&last=1")
        return answer.body["total"] if answer.status == 200 and \
            answer.body["total"]["in"] >= len(events) else None

    total = wait_until(counted, 120, "every event counted after the kill")
    time.sleep(3)  # and nothing more arrives later
    again = api.call("GET", "/stats?database=kdb&window=1d&last=1").body["total"]
    assert total["in"] == again["in"] == len(events)
    mailings = {m["mailing"]: m for m in api.call("GET", "/stats?database=kdb").body["mailings"]}
    for mailing in {e["mailing"] for e in events}:
        mine = [e for e in events if e["mailing"] == mailing]
        assert mailings[mailing]["opens"] == len(mine)
        # the unique sets were rebuilt from the start of the day after the kill
        assert mailings[mailing]["unique_opens"] == len({e["profile"] for e in mine})
