"""Accounts: who a bearer token is, which databases (and collections) it may see, its role.

An account owns a set of databases — whole (``databases``), or only some collections of a
database (``collections``: database -> names) — or every database (``databases: ["*"]``).
Each account holds several tokens at once (rotation without downtime: issue a new one, move
the clients, revoke the old one), each with a role:

- ``viewer``: read loops, attempts and statistics;
- ``editor``: also change loops, validate, test, rotate secrets, read and re-drive dead letters;
- ``operator``: everything, on every database: ``/invalid``, ESP reports, accounts, replays.
  Only an account of every database (``*``) may hold an operator token.

A loop belongs to the accounts whose scope covers its ``database`` and ``collection``; a loop
of every database (``database: null``) only to accounts of every database; a loop of a whole
database (``collection: null``) only to accounts that own the whole database.

Tokens are stored as the SHA-256 of the token: a token is 32 random bytes (``flt_`` + base64url),
so a slow password hash would add CPU per request and no safety (nobody guesses 256 bits);
what leaks from the account store cannot be replayed. ``api.tokens`` (the single-token
configuration of earlier versions) still works: each is an operator token of the built-in
account ``operators``.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from streams.errors import AccountInvalid

__all__ = ["ALL", "Account", "AccountError", "LEGACY_ACCOUNT", "ROLES", "Principal", "Role",
           "Token", "hash_token", "new_token"]

Role = Literal["viewer", "editor", "operator"]
ROLES: Final[tuple[Role, ...]] = ("viewer", "editor", "operator")
ALL: Final = "*"
LEGACY_ACCOUNT: Final = "operators"
TOKEN_PREFIX: Final = "flt_"

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOKEN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


#: an account document or request is invalid (``field``, ``problem``)
AccountError = AccountInvalid


def new_token() -> tuple[str, str]:
    """A fresh token and its id: ``(flt_<43 base64url characters>, t_<hex>)``."""
    return TOKEN_PREFIX + _secrets.token_urlsafe(32), "t_" + _secrets.token_hex(6)


def hash_token(token: str) -> str:
    """The stored form of a token: lowercase hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Token:
    """One credential of an account; the secret itself is never kept, only its hash."""

    id: str
    role: Role
    sha256: str = field(repr=False)
    label: str | None = None
    created_at: float | None = None
    #: Unix seconds after which the token is refused; None: until revoked
    expires_at: float | None = None

    def valid(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_doc(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "sha256": self.sha256, "label": self.label,
                "created_at": self.created_at, "expires_at": self.expires_at}

    def public(self) -> dict[str, Any]:
        """As the API shows it: no hash."""
        doc = self.to_doc()
        del doc["sha256"]
        return doc


@dataclass(frozen=True, slots=True)
class Account:
    """An account: its scope and its tokens. Build with :meth:`from_doc` (validates)."""

    id: str
    databases: tuple[str, ...]
    collections: Mapping[str, tuple[str, ...]]
    tokens: tuple[Token, ...]
    #: "config" (the YAML file or api.tokens: read-only over the API) or "api" (fl.accounts)
    source: Literal["config", "api"] = "api"
    created_at: float | None = None
    updated_at: float | None = None

    @property
    def every_database(self) -> bool:
        return ALL in self.databases

    def covers(self, database: str | None, collection: str | None) -> bool:
        """True when a loop (or a statistic) of ``database``/``collection`` is this account's."""
        if self.every_database:
            return True
        if database is None:
            return False
        if database in self.databases:
            return True
        return collection is not None and collection in self.collections.get(database, ())

    @classmethod
    def from_doc(cls, doc: Any, source: Literal["config", "api"] = "api") -> Account:
        """Validate an account document (the ``fl.accounts`` value, or a YAML entry)."""
        if not isinstance(doc, Mapping):
            raise AccountError(None, "an account must be an object")
        unknown = sorted(set(doc) - {"id", "databases", "collections", "tokens", "created_at",
                                     "updated_at", "version"})
        if unknown:
            raise AccountError(unknown[0], "unknown field (allowed: id, databases, collections, "
                                           "tokens)")
        account_id = doc.get("id")
        if not isinstance(account_id, str) or not _ID.match(account_id):
            raise AccountError("id", "must be 1-64 of a-z, 0-9, '_', '-' (starting with a "
                                     "letter or digit)")
        databases = _names(doc.get("databases", []), "databases")
        collections_doc = doc.get("collections") or {}
        if not isinstance(collections_doc, Mapping):
            raise AccountError("collections", "must map a database to a list of collections")
        collections = {str(db): tuple(_names(names, f"collections.{db}"))
                       for db, names in collections_doc.items()}
        if ALL in databases and (len(databases) > 1 or collections):
            raise AccountError("databases", "'*' (every database) stands alone")
        if not databases and not collections:
            raise AccountError("databases", "name at least one database or collection, or '*'")
        tokens = tuple(_token(t, f"tokens[{i}]") for i, t in enumerate(doc.get("tokens") or []))
        seen: set[str] = set()
        for i, token in enumerate(tokens):
            if token.id in seen:
                raise AccountError(f"tokens[{i}].id", f"{token.id!r} is listed twice")
            seen.add(token.id)
            if token.role == "operator" and ALL not in databases:
                raise AccountError(f"tokens[{i}].role", "operator tokens act on every database: "
                                   "only an account with databases ['*'] may hold one")
        return cls(account_id, tuple(databases), collections, tokens, source,
                   _stamp(doc.get("created_at")), _stamp(doc.get("updated_at")))

    def to_doc(self) -> dict[str, Any]:
        """The ``fl.accounts`` document (token hashes included, never tokens)."""
        return {"id": self.id, "databases": list(self.databases),
                "collections": {db: list(c) for db, c in self.collections.items()},
                "tokens": [t.to_doc() for t in self.tokens],
                "created_at": self.created_at, "updated_at": self.updated_at}

    def public(self) -> dict[str, Any]:
        """As the API shows it: token ids, roles and labels, no hashes."""
        doc = self.to_doc()
        doc["tokens"] = [t.public() for t in self.tokens]
        doc["source"] = self.source
        return doc


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account (its scope as of this request) and the token's role."""

    account: Account
    token_id: str
    role: Role

    def may(self, role: Role) -> bool:
        """This token's role is ``role`` or above (viewer < editor < operator)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def covers(self, database: str | None, collection: str | None) -> bool:
        return self.account.covers(database, collection)

    def owns(self, loop: Any) -> bool:
        """The loop (anything with ``database`` and ``collection``) belongs to this account."""
        return self.account.covers(loop.database, loop.collection)

    def public(self) -> dict[str, Any]:
        a = self.account
        return {"account": a.id, "token": self.token_id, "role": self.role,
                "databases": list(a.databases),
                "collections": {db: list(c) for db, c in a.collections.items()}}


def identify(token: str, accounts: Iterable[Account], now: float | None = None) -> Principal | None:
    """The principal ``token`` authenticates, or None (unknown, revoked or expired)."""
    digest = hash_token(token)
    now = time.time() if now is None else now
    for account in accounts:
        for t in account.tokens:
            # compare_digest: no early exit on the first differing character of a hash
            if hmac.compare_digest(t.sha256, digest):
                return Principal(account, t.id, t.role) if t.valid(now) else None
    return None


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise AccountError(where, "must be a list of names")
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise AccountError(f"{where}[{i}]", "must be a name of 1-255 characters")
        if name not in out:
            out.append(name)
    return out


def _stamp(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _token(doc: Any, where: str) -> Token:
    if not isinstance(doc, Mapping):
        raise AccountError(where, "a token must be an object with id, role and sha256")
    unknown = sorted(set(doc) - {"id", "role", "sha256", "label", "created_at", "expires_at"})
    if unknown:
        raise AccountError(f"{where}.{unknown[0]}", "unknown field (allowed: id, role, sha256, "
                                                    "label, expires_at)")
    token_id, role, digest = doc.get("id"), doc.get("role"), doc.get("sha256")
    if not isinstance(token_id, str) or not _TOKEN_ID.match(token_id):
        raise AccountError(f"{where}.id", "must be 1-64 of letters, digits, '_', '-'")
    if role not in ROLES:
        raise AccountError(f"{where}.role", f"must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise AccountError(f"{where}.sha256", "must be the token's SHA-256 as 64 lowercase hex "
                                              "digits (feedbackloops accounts new-token)")
    label = doc.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise AccountError(f"{where}.label", "must be a string of at most 200 characters")
    return Token(token_id, cast(Role, role), digest, label, _stamp(doc.get("created_at")),
                 _stamp(doc.get("expires_at")))
