"""Accounts against a running worker: every route with another account's token (404, nothing
leaked) and with each role (what it may and may not do); tokens issued, rotated and revoked
over the API; api.tokens still work as operator tokens."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from streams.api.accounts import hash_token, new_token
from tests.support.api import Answer, Api
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
OPERATOR = "operator-token-0123456789abcdef"
RANK = {"viewer": 0, "editor": 1, "operator": 2}


def tokens() -> dict[str, tuple[str, str]]:
    """name -> (token, its id)."""
    return {name: new_token() for name in ("acme_viewer", "acme_editor", "globex_editor",
                                           "weekly_viewer")}


class World:
    def __init__(self, api: Api, receiver: Receiver, toks: dict[str, tuple[str, str]]) -> None:
        self.api, self.receiver, self.tokens = api, receiver, toks
        self.loops: dict[str, str] = {}

    def call(self, who: str, method: str, path: str, body: Any = None) -> Answer:
        token = OPERATOR if who == "operator" else self.tokens[who][0]
        return self.api.call(method, path, body, token=token)

    def loop(self, name: str, **fields: Any) -> str:
        made = self.call("operator", "POST", "/loops", {"url": self.receiver.url(f"/{name}"),
                                                        "events": ["open"], **fields})
        assert made.status == 201, made.body
        return str(made.body["id"])


@pytest.fixture(scope="module")
def world(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    toks = tokens()
    receiver = Receiver().start()

    def decl(name: str, role: str) -> dict[str, Any]:
        return {"id": toks[name][1], "role": role, "sha256": hash_token(toks[name][0])}

    accounts = [
        {"id": "acme", "databases": ["shop"],
         "tokens": [decl("acme_viewer", "viewer"), decl("acme_editor", "editor")]},
        {"id": "globex", "databases": ["bank"], "tokens": [decl("globex_editor", "editor")]},
        {"id": "weekly", "collections": {"news": ["weekly"]},
         "tokens": [decl("weekly_viewer", "viewer")]},
    ]
    project = Project(kafka_bootstrap, tmp_path_factory.mktemp("accounts"),
                      {"api": {"port": 0, "tokens": [OPERATOR], "accounts": accounts},
                       "stats": {"flush_s": 0.5}})
    project.create_topics()
    worker = project.start("worker", "-l", "info")
    receiver.watchdogs.append(project.assert_alive)
    try:
        w = World(Api.of(worker, OPERATOR), receiver, toks)
        w.loops = {"shop": w.loop("shop", database="shop"), "bank": w.loop("bank", database="bank"),
                   "any": w.loop("any"), "news": w.loop("news", database="news"),
                   "weekly": w.loop("weekly", database="news", collection="weekly")}
        yield w
    finally:
        project.close()
        receiver.stop()


def operations() -> list[tuple[str, str, str]]:
    """(method, path template, least role) of every authenticated operation."""
    return [(m.upper(), path, op["x-access"]) for path, item in OPENAPI["paths"].items()
            for m, op in item.items() if m in ("get", "post", "patch", "delete")
            and op["x-access"] != "public"]


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/loops"): {"url": "http://127.0.0.1:9/x", "events": ["open"], "database": "shop"},
    ("PATCH", "/loops/{id}"): {"rate_per_s": 5},
    ("POST", "/loops/{id}/test"): {"json": {"hello": "role test"}},
    ("POST", "/loops/{id}/secret/rotate"): {"grace_s": 60},
    ("POST", "/dead-letters/redrive"): {"dry_run": True},
    ("POST", "/invalid/replay"): {"dry_run": True},
    ("POST", "/accounts"): {"id": "role-test", "databases": ["x"]},
    ("PATCH", "/accounts/{account}"): {"databases": ["x"]},
    ("POST", "/accounts/{account}/tokens"): {"role": "viewer"},
}


def test_a_foreign_loop_is_not_found_at_every_route(world: World) -> None:
    """acme's editor, at every route naming a loop, with globex's loop: the same 404 as an id
    that does not exist, and globex's loop unchanged afterwards."""
    bank = world.loops["bank"]
    before = world.call("operator", "GET", f"/loops/{bank}").body
    checked = 0
    for method, path, role in operations():
        if not path.startswith("/loops/{id}"):  # /replays/{id} names a replay (test_replay)
            continue
        body = BODIES.get((method, path))
        foreign = world.call("acme_editor", method, path.replace("{id}", bank), body)
        missing = world.call("acme_editor", method, path.replace("{id}", "lp_nosuchloop"), body)
        if RANK[role] > RANK["editor"]:
            assert foreign.status == missing.status == 403
            continue
        assert foreign.status == 404, (method, path, foreign.status, foreign.body)
        assert foreign.body == {"error": f"no loop with id {bank!r}", "field": "id"}
        assert missing.status == 404 and missing.body["error"] == "no loop with id 'lp_nosuchloop'"
        checked += 1
    assert checked >= 8
    # nothing happened to it: same version, same secret, no test call reached its receiver
    assert world.call("operator", "GET", f"/loops/{bank}").body == before
    assert world.receiver.calls_to("/bank") == []
    # queries naming it by other means
    for path in (f"/dead-letters?loop={bank}", f"/stats?loop={bank}"):
        answer = world.call("acme_editor", "GET", path)
        assert answer.status == 404 and answer.body["field"] == "id", (path, answer.body)
    redrive = world.call("acme_editor", "POST", "/dead-letters/redrive", {"loop": bank})
    assert redrive.status == 404


def test_lists_show_only_the_callers_loops(world: World) -> None:
    def ids(who: str, path: str = "/loops") -> set[str]:
        answer = world.call(who, "GET", path)
        assert answer.status == 200, answer.body
        return {lp["id"] for lp in answer.body["loops"]}

    lp = world.loops
    assert ids("acme_viewer") == {lp["shop"]}
    assert ids("globex_editor") == {lp["bank"]}
    # a collection's account sees the collection's loop, not the whole database's nor "any"
    assert ids("weekly_viewer") == {lp["weekly"]}
    assert ids("acme_viewer", "/loops?database=bank") == set()
    assert lp["bank"] not in json.dumps(world.call("acme_viewer", "GET", "/stats/loops").body)
    assert ids("operator") >= set(lp.values())
    stats = world.call("acme_viewer", "GET", "/stats?database=bank")
    assert stats.status == 403 and stats.body["field"] == "database"
    assert world.call("weekly_viewer", "GET", "/stats?database=news").status == 200  # its collection
    assert world.call("weekly_viewer", "GET", "/stats?database=news&collection=daily").status == 403
    me = world.call("weekly_viewer", "GET", "/me").body
    assert me == {"account": "weekly", "token": world.tokens["weekly_viewer"][1], "role": "viewer",
                  "databases": [], "collections": {"news": ["weekly"]}}


def test_an_account_cannot_create_or_move_loops_outside_itself(world: World) -> None:
    url = world.receiver.url("/acme-new")
    for body, field in (({"database": "bank"}, "database"), ({}, "database"),
                        ({"database": "news", "collection": "weekly"}, "database")):
        answer = world.call("acme_editor", "POST", "/loops", {"url": url, "events": ["open"], **body})
        assert answer.status == 403 and answer.body["field"] == field, (body, answer.body)
    moved = world.call("acme_editor", "PATCH", f"/loops/{world.loops['shop']}", {"database": "bank"})
    assert moved.status == 403 and moved.body["field"] == "database"
    assert world.call("operator", "GET", f"/loops/{world.loops['shop']}").body["database"] == "shop"


def test_each_role_may_do_what_it_may_and_nothing_more(world: World) -> None:
    """At every authenticated route: a role below the route's is refused with 403 before
    anything happens; the role itself (and above) gets past authorization."""
    fresh = {who: world.loop(f"{who}-own", database="shop") for who in ("acme_viewer", "acme_editor")}
    checked = 0
    for who, rank in (("acme_viewer", 0), ("acme_editor", 1), ("operator", 2)):
        own = fresh.get(who) or world.loop("operator-own", database="shop")
        for method, path, role in operations():
            concrete = (path.replace("{id}", own).replace("{account}", "acme")
                        .replace("{token}", "t_nosuchtoken"))
            if (method, path) == ("DELETE", "/accounts/{account}") or path.startswith("/accounts") \
                    and who == "operator":
                continue  # operator account management is tested below (acme is read-only)
            answer = world.call(who, method, concrete, BODIES.get((method, path)))
            if rank < RANK[role]:
                assert answer.status == 403, (who, method, path, answer.status, answer.body)
                assert answer.body["field"] == "Authorization" and role in answer.body["error"]
            else:
                assert answer.status not in (401, 403), (who, method, path, answer.body)
            checked += 1
    assert checked >= 60
    # nothing the refused calls asked for happened
    assert world.call("operator", "GET", f"/loops/{fresh['acme_viewer']}").body["rate_per_s"] == 50


def test_tokens_are_issued_rotated_and_revoked_over_the_api(world: World) -> None:
    made = world.call("operator", "POST", "/accounts", {"id": "initech", "databases": ["hr"]})
    assert made.status == 201 and made.body["tokens"] == [] and made.body["source"] == "api"
    first = world.call("operator", "POST", "/accounts/initech/tokens",
                       {"role": "editor", "label": "ci"}).body
    assert first["token"].startswith("flt_") and first["token"] not in json.dumps(first["account"])
    api = world.api

    def me(token: str) -> Answer:
        return api.call("GET", "/me", token=token)

    assert me(first["token"]).body["account"] == "initech"
    # rotation: a second token works alongside the first, then the first is revoked
    second = world.call("operator", "POST", "/accounts/initech/tokens", {"role": "editor"}).body
    assert me(first["token"]).status == me(second["token"]).status == 200
    assert world.call("operator", "DELETE", f"/accounts/initech/tokens/{first['id']}").status == 204
    assert me(first["token"]).status == 401 and me(second["token"]).status == 200
    # scope changes apply to the next request
    hr = api.call("POST", "/loops", {"url": world.receiver.url("/hr"), "events": ["open"],
                                     "database": "hr"}, token=second["token"])
    assert hr.status == 201
    world.call("operator", "PATCH", "/accounts/initech", {"databases": ["payroll"]})
    assert api.call("GET", f"/loops/{hr.body['id']}", token=second["token"]).status == 404
    # the file's accounts are read-only here; hashes never leave
    assert world.call("operator", "PATCH", "/accounts/acme", {"databases": ["x"]}).status == 409
    listed = world.call("operator", "GET", "/accounts").body
    assert "sha256" not in json.dumps(listed)
    assert {a["id"] for a in listed["accounts"]} >= {"acme", "globex", "weekly", "initech",
                                                     "operators"}
    bad = world.call("operator", "POST", "/accounts/initech/tokens", {"role": "operator"})
    assert bad.status == 400 and bad.body["field"] == "tokens[1].role"
    assert world.call("operator", "DELETE", "/accounts/initech").status == 204
    assert me(second["token"]).status == 401
    assert re.match(r"^t_[0-9a-f]{12}$", second["id"])
