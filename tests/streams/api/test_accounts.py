"""Accounts: scopes, roles, hashed tokens, the configuration's accounts and api.tokens."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.api.accounts import Account, AccountError, Principal, hash_token, new_token
from streams.api.directory import AccountConflict, Directory
from streams.config.loading import ConfigError, parse_config
from streams.kafka.registry import StaticView


def account(**doc: Any) -> Account:
    return Account.from_doc({"id": "acme", "databases": ["shop"], **doc})


class Loop:
    def __init__(self, database: str | None, collection: str | None) -> None:
        self.database, self.collection = database, collection


def test_a_loop_belongs_to_the_accounts_covering_its_database_and_collection() -> None:
    shop = account()
    weekly = account(databases=[], collections={"news": ["weekly"]})
    everything = account(databases=["*"])
    cases = [(None, None), ("shop", None), ("shop", "orders"), ("news", None),
             ("news", "weekly"), ("news", "daily")]
    assert [shop.covers(*c) for c in cases] == [False, True, True, False, False, False]
    assert [weekly.covers(*c) for c in cases] == [False, False, False, False, True, False]
    assert all(everything.covers(*c) for c in cases)
    assert Principal(weekly, "t", "viewer").owns(Loop("news", "weekly"))
    assert not Principal(weekly, "t", "viewer").owns(Loop("news", None))


def test_roles_are_ordered() -> None:
    p = Principal(account(), "t", "editor")
    assert p.may("viewer") and p.may("editor") and not p.may("operator")


@pytest.mark.parametrize("doc, field", [
    ({"id": "Acme"}, "id"),
    ({"databases": []}, "databases"),
    ({"databases": ["*", "shop"]}, "databases"),
    ({"databases": "shop"}, "databases"),
    ({"tokens": [{"id": "t1", "role": "admin", "sha256": "0" * 64}]}, "tokens[0].role"),
    ({"tokens": [{"id": "t1", "role": "viewer", "sha256": "abc"}]}, "tokens[0].sha256"),
    ({"tokens": [{"id": "t1", "role": "operator", "sha256": "0" * 64}]}, "tokens[0].role"),
    ({"tokens": [{"id": "t1", "role": "viewer", "sha256": "0" * 64}] * 2}, "tokens[1].id"),
    ({"colour": "red"}, "colour"),
])
def test_bad_accounts_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(AccountError) as caught:
        account(**doc)
    assert caught.value.field == field


def test_tokens_are_random_and_stored_hashed() -> None:
    (a, a_id), (b, b_id) = new_token(), new_token()
    assert a != b and a.startswith("flt_") and len(a) == 47 and a_id != b_id
    assert hash_token(a) != hash_token(b) and len(hash_token(a)) == 64
    assert a not in repr(account(tokens=[{"id": a_id, "role": "viewer", "sha256": hash_token(a)}]))


def directory(accounts: list[dict[str, Any]], tokens: list[str] = ()) -> Directory:  # type: ignore[assignment]
    config = parse_config({"api": {"accounts": accounts, "tokens": list(tokens)}})
    return Directory(config.api, StaticView(), None)


def test_the_configuration_declares_accounts_and_api_tokens_stay_operators() -> None:
    token, token_id = new_token()
    d = directory([{"id": "acme", "databases": ["shop"],
                    "tokens": [{"id": token_id, "role": "editor", "sha256": hash_token(token)}]}],
                  ["legacy-operator-token-0123"])
    p = d.principal(token)
    assert p is not None and (p.account.id, p.token_id, p.role) == ("acme", token_id, "editor")
    legacy = d.principal("legacy-operator-token-0123")
    assert legacy is not None and legacy.role == "operator" and legacy.account.every_database
    assert d.principal(token + "x") is None and d.principal("") is None
    with pytest.raises(AccountConflict):
        asyncio.run(d.patch("acme", {"databases": ["x"]}))


def test_an_expired_token_is_refused() -> None:
    token, token_id = new_token()
    d = directory([{"id": "acme", "databases": ["shop"], "tokens": [
        {"id": token_id, "role": "viewer", "sha256": hash_token(token), "expires_at": 1000}]}])
    assert d.principal(token, now=999) is not None and d.principal(token, now=1000) is None


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"api": {"accounts": [{"id": "acme", "databases": ["shop"], "tokens": [
            {"id": "t", "role": "editor", "sha256": "nothex"}]}]}})
    assert "api.accounts[0]" in str(caught.value) and "sha256" in str(caught.value)
