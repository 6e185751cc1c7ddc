"""ESP feedback loops on the real broker: ARF and DSN reports in, enriched calls and profile
actions out (a real worker, a real sender, a real aiohttp receiver on 127.0.0.1).

Reports enter both ways users have: ``feedbackloops esp load`` (an mbox file) and
``POST /esp/reports``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from enrichers.esp import ProfileRef, make_ref, make_unsubscribe_ref
from streams.demo.events import DemoWorld
from tests.support.api import Api
from tests.support.esp_reports import arf, dsn
from tests.support.processes import Project
from tests.support.receiver import Receiver
from tests.support.topics import read_topic

pytestmark = [pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
REF_SECRET = "esp-ref-secret-for-tests-0123456789"
TOKEN = "esp-test-token-0123456789abcdef"


def started(project_factory: Callable[..., Project], receiver: Receiver, database: str,
            profiles: Any, events: list[str]) -> tuple[Project, Any, Api]:
    """A worker and a sender for ``database`` (unsubscribe behaviour: update newsletter=no),
    the ``profiles`` in the table, one trusted loop for ``events`` at ``receiver``'s /esp."""
    project = project_factory(
        api={"port": 0, "tokens": [TOKEN]},
        esp={"ref_secret": REF_SECRET,
             "databases": [{"database": database, "on_complaint": "update",
                            "fields": {"newsletter": "no"}}]},
        loops=[{"id": "esp", "url": receiver.url("/esp"), "trusted": True, "events": events}])
    for profile in profiles:
        project.produce(project.topics.ref_profiles, profile["id"], profile)
    project.flush()
    worker = project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    return project, worker, Api.of(worker, TOKEN)


def test_reports_become_enriched_calls_and_profile_actions(
        project_factory: Callable[..., Project], receiver: Receiver, tmp_path: Path) -> None:
    world = DemoWorld(profiles=3, seed=5)
    complainer, bouncer = world.profiles[0], world.profiles[1]
    database = complainer["database"]
    project, worker, api = started(project_factory, receiver, database, (complainer, bouncer),
                                   ["complaint", "bounce", "unsubscribe"])
    secret = REF_SECRET.encode()

    def ref(profile: dict[str, Any]) -> str:
        return make_ref(secret, ProfileRef(database=profile["database"], profile=profile["id"],
                                           mailing="m-1"))

    # an mbox with one genuine complaint and one forged (signed with another secret)
    forged = make_ref(b"not-our-secret-0123456789", ProfileRef(database, bouncer["id"]))
    mbox = tmp_path / "reports.mbox"
    mbox.write_bytes(b"".join(
        b"From feedback@arf.mail.yahoo.com Thu Nov 26 10:05:00 2026\n"
        + report.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ") + b"\n"
        for report in (arf(ref(complainer), "redacted@yahoo.com", "m1@example.com"),
                       arf(forged, bouncer["email"], "m2@example.com"))))
    loaded = subprocess.run(
        [sys.executable, "-m", "streams", "--config", str(project.config_path), "esp", "load",
         str(mbox)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "sent 2 reports" in loaded.stdout

    # a bounce through the API; junk is refused with a reason naming the body
    answer = api.call("POST", "/esp/reports", raw=dsn(ref(bouncer), bouncer["email"], "m3@example.com"))
    assert answer.status == 202, answer.body
    refused = api.call("POST", "/esp/reports", raw=b"hello, this is not an e-mail")
    assert refused.status == 400 and refused.body["field"] == "body"
    assert api.call("POST", "/esp/reports", raw=b"From: a@b.c\n\nx", token=None).status == 401

    calls = receiver.wait_for(lambda cs: len(cs) >= 3, timeout_s=90, what="3 ESP events")
    events = {c.json()["type"]: c.json() for c in calls}
    assert set(events) == {"complaint", "unsubscribe", "bounce"}, [c.json() for c in calls]
    complaint = events["complaint"]
    # mapped through X-FL-Ref although the provider redacted the recipient; enriched
    assert complaint["profile"] == complainer["id"] and complaint["email"] == complainer["email"]
    assert complaint["fields"] == complainer["fields"]
    assert complaint["feedback_type"] == "abuse" and complaint["source_ip"] == "192.0.2.25"
    assert events["unsubscribe"]["profile"] == complainer["id"]
    bounce = events["bounce"]
    assert bounce["profile"] == bouncer["id"] and "5.1.1" in bounce["mime"]

    [action] = read_topic(project, project.topics.profile_actions, 1)
    doc = orjson.loads(action.value())
    assert action.key() == complainer["id"].encode()
    assert doc["action"] == "update" and doc["fields"] == {"newsletter": "no"}
    assert doc["database"] == database and doc["event_id"] == complaint["event_id"]

    [parked] = read_topic(project, project.topics.esp_unmapped, 1)
    reason = dict(parked.headers() or [])["fl-reason"].decode()
    assert "signature" in reason, reason
    assert parked.value() is not None and b"X-FL-Ref" in parked.value()
    listed = api.call("GET", "/esp/unmapped?type=complaint").body["unmapped"]
    assert [f["recipient"] for f in listed[0]["parsed"]["findings"]] == [bouncer["email"]]
    cli = subprocess.run(
        [sys.executable, "-m", "streams", "--config", str(project.config_path), "esp", "unmapped",
         "--type", "complaint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert orjson.loads(cli.stdout)["unmapped"][0]["parsed"] == listed[0]["parsed"]
    assert len(receiver.calls_to("/esp")) == 3, "the forged complaint reached no loop"
    assert "Traceback" not in worker.log()


def test_one_click_unsubscribe_end_to_end_and_auth_failure_never_unsubscribes(
        project_factory: Callable[..., Project], receiver: Receiver) -> None:
    world = DemoWorld(profiles=3, seed=11)
    clicker, spoofed, marker = world.profiles
    database = clicker["database"]
    project, worker, api = started(project_factory, receiver, database, world.profiles,
                                   ["complaint", "unsubscribe"])
    secret = REF_SECRET.encode()
    ref = ProfileRef(database=database, profile=clicker["id"], mailing="m-2")
    value = make_unsubscribe_ref(secret, ref)
    form = {"raw": b"List-Unsubscribe=One-Click", "token": None,
            "content_type": "application/x-www-form-urlencoded"}

    # a GET (a link scanner) changes nothing; forged and tampered references are refused
    assert api.call("GET", f"/unsubscribe/{value}", token=None).status == 200
    for bad in (make_unsubscribe_ref(b"not-our-secret-0123456789", ref), value[:-4] + "AAAA",
                make_ref(secret, ref)):
        refused = api.call("POST", f"/unsubscribe/{bad}", **form)
        assert refused.status == 404 and refused.body["field"] == "ref", refused.body
    # the real one-click, then repeats (harmless)
    for _ in range(3):
        done = api.call("POST", f"/unsubscribe/{value}", **form)
        assert done.status == 200 and done.body["unsubscribed"] is True, done.body

    # an authentication failure report naming `spoofed`, then (same reporting domain, so the
    # same fl.esp.reports partition, read after it) a spam complaint about `marker`
    def esp_ref(profile: dict[str, Any]) -> str:
        return make_ref(secret, ProfileRef(database=database, profile=profile["id"],
                                           mailing="m-2"))

    for report in (arf(esp_ref(spoofed), spoofed["email"], "af@example.com",
                       feedback_type="auth-failure"),
                   arf(esp_ref(marker), marker["email"], "abuse@example.com")):
        assert api.call("POST", "/esp/reports", raw=report).status == 202

    def arrived(calls: list[Any]) -> bool:
        seen = {(c.json()["type"], c.json()["profile"]) for c in calls}
        return {("unsubscribe", clicker["id"]), ("complaint", spoofed["id"]),
                ("complaint", marker["id"]), ("unsubscribe", marker["id"])} <= seen

    calls = receiver.wait_for(arrived, timeout_s=90, what="one-click, auth-failure, marker")
    docs = [c.json() for c in calls]
    auth = [d for d in docs if d["profile"] == spoofed["id"]]
    assert [(d["type"], d["feedback_type"]) for d in auth] == [("complaint", "auth-failure")]
    clicked = [d for d in docs if d["profile"] == clicker["id"]]
    assert [d["type"] for d in clicked] == ["unsubscribe"] and clicked[0]["source"] == "one-click"
    assert clicked[0]["email"] == clicker["email"], "enriched like every event"

    actions = [orjson.loads(m.value()) for m in
               read_topic(project, project.topics.profile_actions, 2)]
    by_profile = {(a["profile"], a["reason"]) for a in actions}
    assert by_profile == {(clicker["id"], "one-click"), (marker["id"], "complaint")}, actions
    assert len(actions) == 2, "repeated POSTs wrote no second action"
    unsubscribes = [orjson.loads(m.value()) for m in
                    read_topic(project, project.topics.raw["unsubscribe"], 2)]
    assert spoofed["id"] not in {u["profile"] for u in unsubscribes}
    assert len([u for u in unsubscribes if u["profile"] == clicker["id"]]) == 1
    assert "Traceback" not in worker.log()
