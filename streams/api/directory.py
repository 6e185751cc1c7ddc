"""The accounts a worker knows: the YAML file's, ``api.tokens``, and ``fl.accounts``.

Accounts declared in the configuration are read-only over the API (change the file); accounts
made over the API live in the compacted topic ``fl.accounts`` that every worker follows, so a
token issued on one worker works on all of them once their views show it (writes return only
after this worker's view does). A token is looked up by its SHA-256 in an index rebuilt when
the view changes.
"""
from __future__ import annotations

import time
from typing import Any, Protocol

import orjson

from streams.api.accounts import (ALL, LEGACY_ACCOUNT, ROLES, Account, AccountError, Principal,
                                  Token, hash_token, new_token)
from streams.config.settings import ApiConfig
from streams.errors import AccountConflict, AccountNotFound

__all__ = ["AccountConflict", "Directory", "NoAccount", "parse_account"]


NoAccount = AccountNotFound


class _View(Protocol):
    version: int

    def get(self, key: str) -> Account | None: ...

    def values(self) -> list[Account]: ...


class _Writer(Protocol):
    async def write(self, key: bytes, value: bytes | None, timeout_s: float = 10.0) -> None: ...


def parse_account(data: bytes) -> Account:
    """``fl.accounts`` value -> the account (raises ``AccountInvalid`` or orjson's
    ValueError; the view skips such a record)."""
    return Account.from_doc(orjson.loads(data))


def configured(api: ApiConfig) -> dict[str, Account]:
    """The accounts of the configuration: ``api.accounts`` and ``api.tokens`` as operators."""
    out = {decl.id: Account.from_doc(decl.as_doc(), "config") for decl in api.accounts}
    if api.tokens:
        tokens = tuple(Token(f"config-{i}", "operator", hash_token(t.reveal()),
                             "api.tokens", None, None) for i, t in enumerate(api.tokens))
        out[LEGACY_ACCOUNT] = Account(LEGACY_ACCOUNT, (ALL,), {}, tokens, "config")
    return out


class Directory:
    """Look tokens up; create, change and delete API accounts and their tokens."""

    def __init__(self, api: ApiConfig, view: _View, writer: _Writer | None) -> None:
        self._config = configured(api)
        self._view = view
        self._writer = writer
        self._index: dict[str, tuple[str, Token]] = {}
        self._indexed_version = -1

    # -- reads -----------------------------------------------------------------------------
    def all(self) -> list[Account]:
        merged = {a.id: a for a in self._view.values()}
        merged.update(self._config)  # the file wins: it is the operator's word
        return sorted(merged.values(), key=lambda a: a.id)

    def get(self, account_id: str) -> Account:
        account = self._config.get(account_id) or self._view.get(account_id)
        if account is None:
            raise NoAccount(account_id)
        return account

    def principal(self, token: str, now: float | None = None) -> Principal | None:
        """Who ``token`` is, or None (unknown, revoked, expired, or its account deleted)."""
        if self._indexed_version != self._view.version:
            self._reindex()
        found = self._index.get(hash_token(token))
        if found is None:
            return None
        account_id, t = found
        if not t.valid(time.time() if now is None else now):
            return None
        try:
            account = self.get(account_id)
        except NoAccount:
            return None
        return Principal(account, t.id, t.role)

    def _reindex(self) -> None:
        version = self._view.version
        index: dict[str, tuple[str, Token]] = {}
        for account in self.all():
            for t in account.tokens:
                index[t.sha256] = (account.id, t)
        self._index, self._indexed_version = index, version

    # -- writes (API accounts only) ----------------------------------------------------------
    def _mine(self, account_id: str) -> Account:
        if account_id in self._config:
            raise AccountConflict("id", f"account {account_id!r} is declared in the "
                                        "configuration file: change it there")
        return self.get(account_id)

    async def _put(self, doc: dict[str, Any]) -> Account:
        if self._writer is None:
            raise AccountConflict("id", "accounts are read-only in this process")
        now = time.time()
        doc["updated_at"] = now
        doc.setdefault("created_at", now)
        account = Account.from_doc(doc)
        await self._writer.write(account.id.encode(), orjson.dumps(account.to_doc()))
        return self.get(account.id)

    async def create(self, fields: dict[str, Any]) -> Account:
        """A new account from ``{"id", "databases"?, "collections"?}`` (no tokens yet)."""
        _only(fields, {"id", "databases", "collections"})
        account_id = fields.get("id")
        if isinstance(account_id, str) and (account_id in self._config
                                            or self._view.get(account_id) is not None):
            raise AccountConflict("id", f"an account {account_id!r} exists already")
        return await self._put({**fields, "tokens": []})

    async def patch(self, account_id: str, fields: dict[str, Any]) -> Account:
        """Change an account's ``databases`` and/or ``collections``."""
        _only(fields, {"databases", "collections"})
        doc = self._mine(account_id).to_doc()
        doc.update(fields)
        return await self._put(doc)

    async def delete(self, account_id: str) -> None:
        self._mine(account_id)
        assert self._writer is not None
        await self._writer.write(account_id.encode(), None)

    async def issue(self, account_id: str, fields: dict[str, Any]) -> tuple[Account, str, str]:
        """A new token (``{"role", "label"?, "expires_at"?}``): (account, token, token id).
        The token is shown this once; only its hash is stored."""
        _only(fields, {"role", "label", "expires_at"})
        if fields.get("role") not in ROLES:
            raise AccountError("role", f"must be one of {', '.join(ROLES)}")
        expires_at = fields.get("expires_at")
        if expires_at is not None and (isinstance(expires_at, bool)
                                       or not isinstance(expires_at, (int, float))
                                       or expires_at <= time.time()):
            raise AccountError("expires_at", "must be a future time in Unix seconds, or null")
        doc = self._mine(account_id).to_doc()
        token, token_id = new_token()
        doc["tokens"].append({"id": token_id, "role": fields["role"], "sha256": hash_token(token),
                              "label": fields.get("label"), "created_at": time.time(),
                              "expires_at": expires_at})
        return await self._put(doc), token, token_id

    async def revoke(self, account_id: str, token_id: str) -> Account:
        """Remove a token: it is refused from the moment this returns (on this worker; the
        others within their view's lag, normally milliseconds)."""
        doc = self._mine(account_id).to_doc()
        kept = [t for t in doc["tokens"] if t["id"] != token_id]
        if len(kept) == len(doc["tokens"]):
            raise NoAccount(token_id)
        doc["tokens"] = kept
        return await self._put(doc)


def _only(fields: dict[str, Any], allowed: set[str]) -> None:
    if not isinstance(fields, dict):
        raise AccountError(None, "the request body must be a JSON object")
    for key in fields:
        if key not in allowed:
            raise AccountError(key, f"unknown field (allowed: {', '.join(sorted(allowed))})")
