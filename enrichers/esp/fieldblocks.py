"""Reading the field blocks of delivery-status and feedback-report parts as text, leniently.

Real reports are not always what RFC 3464 / 5965 draw:

- recipient blocks with no blank line between them: a recipient field that the current block
  already has (a second ``Final-Recipient`` or ``Action``), or a ``Final-Recipient`` /
  ``Original-Recipient`` after the block's ``Action`` or ``Status``, starts the next recipient;
- mangled field names (a lost first letter, ``ction: failed``; a typo): a name we do not know
  is read as the known name it is a suffix of (four letters at least), or the one it is close
  to (``difflib`` ratio at least 0.8); names still unknown are kept as they are;
- folded values (continuation lines start with white space) are joined with one space;
- lines that are no ``Name: value`` are ignored.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Final

from .mime import Fields

__all__ = ["dsn_blocks", "arf_fields", "looks_like_dsn", "looks_like_arf"]

PER_MESSAGE: Final = ("reporting-mta", "dsn-gateway", "received-from-mta", "arrival-date",
                      "original-envelope-id", "x-postfix-queue-id", "x-postfix-sender")
PER_RECIPIENT: Final = frozenset({
    "original-recipient", "final-recipient", "action", "status", "remote-mta",
    "diagnostic-code", "last-attempt-date", "final-log-id", "will-retry-until",
    "x-actual-recipient", "x-supplementary-info", "x-display-name"})
ARF: Final = ("feedback-type", "user-agent", "version", "original-envelope-id",
              "original-mail-from", "arrival-date", "received-date", "reporting-mta",
              "source-ip", "incidents", "original-rcpt-to", "reported-domain", "reported-uri",
              "authentication-results", "auth-failure", "delivery-result", "dkim-adsp-dns",
              "dkim-canonicalized-body", "dkim-canonicalized-header", "dkim-domain",
              "dkim-identity", "dkim-selector", "identity-alignment", "spf-dns", "source-port",
              "removal-recipient")
_RECIPIENT_IDS: Final = frozenset({"original-recipient", "final-recipient"})
_KNOWN: Final = tuple(dict.fromkeys((*PER_MESSAGE, *sorted(PER_RECIPIENT), *ARF)))
_LINE: Final = re.compile(r"^([!-9;-~]{1,60})[ \t]*:[ \t]*(.*)$")
_MIN_SUFFIX: Final = 4


def _lines(text: str) -> Iterable[tuple[str, str] | None]:
    """``(name, value)`` per field (continuations joined), ``None`` per blank line."""
    name: str | None = None
    value = ""
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and line.strip() and name is not None:
            value += " " + line.strip()
            continue
        if name is not None:
            yield name, value.strip()
            name = None
        if not line.strip():
            yield None
            continue
        found = _LINE.match(line)
        if found:
            name, value = known_name(found.group(1)), found.group(2)
    if name is not None:
        yield name, value.strip()


@lru_cache(maxsize=512)
def known_name(raw: str) -> str:
    """A field name lowercased, and repaired when it is a mangled known name."""
    name = raw.strip().lower()
    if name in _KNOWN or not name:
        return name
    suffixed = [known for known in _KNOWN if known.endswith(name)]
    if len(suffixed) == 1 and len(name) >= _MIN_SUFFIX:
        return suffixed[0]
    close = difflib.get_close_matches(name, _KNOWN, n=1, cutoff=0.8)
    return close[0] if close else name


def dsn_blocks(text: str) -> tuple[Fields, list[Fields]]:
    """The per-message fields and the per-recipient blocks of a delivery-status text."""
    per_message: dict[str, list[str]] = {}
    recipients: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for item in _lines(text):
        if item is None:
            current = None
            continue
        name, value = item
        if name not in PER_RECIPIENT:
            per_message.setdefault(name, []).append(value)
            continue
        starts_next = current is not None and (name in current or (
            name in _RECIPIENT_IDS and ("action" in current or "status" in current)))
        if current is None or starts_next:
            current = {}
            recipients.append(current)
        current.setdefault(name, []).append(value)
    return _frozen(per_message), [_frozen(block) for block in recipients]


def arf_fields(text: str) -> Fields:
    """The fields of a feedback-report text as one block (repeated fields keep every value)."""
    fields: dict[str, list[str]] = {}
    for item in _lines(text):
        if item is not None:
            fields.setdefault(item[0], []).append(item[1])
    return _frozen(fields)


def looks_like_dsn(text: str) -> bool:
    """Whether ``text`` holds delivery-status fields: a recipient and an action or status."""
    names = {item[0] for item in _lines(text) if item is not None}
    return bool(names & {"final-recipient", "original-recipient"}) and bool(
        names & {"action", "status"})


def looks_like_arf(text: str) -> bool:
    """Whether ``text`` holds feedback-report fields: a Feedback-Type and one more ARF field."""
    names = {item[0] for item in _lines(text) if item is not None}
    return "feedback-type" in names and len(names & set(ARF)) >= 2


def _frozen(block: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(values) for name, values in block.items()}


def first(fields: Fields, name: str) -> str | None:
    """The first non-empty value of ``name``."""
    return next((value for value in fields.get(name, ()) if value), None)


def values(fields: Fields, *names: str) -> Sequence[str]:
    """Every non-empty value of the ``names``, in that order."""
    return [value for name in names for value in fields.get(name, ()) if value]
