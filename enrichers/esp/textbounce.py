"""Bounces without a ``delivery-status`` part, read from the notice's text.

``text_bounces`` tries the formats of :mod:`.textformats` in order on the notice text
(:func:`.notice.notice_text`): a format's strong markers are enough; its weak markers count
only for a message from a mail system or with a non-delivery subject that no auto-reply signal
marks. When no format finds a recipient, a message from a mail system with a non-delivery
subject (or an ``X-Failed-Recipients`` header) is read generically: the addresses in
``X-Failed-Recipients``, else those on lines that speak of a failure.

Never a recipient: the notice's own From, To and Return-Path addresses, and mail-system
addresses (MAILER-DAEMON, postmaster).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from email.message import Message
from email.utils import getaddresses
from typing import Final

from .dsn import classified
from .mime import Fields, _collapsed, _date, _first, _first_address, _from_domain
from .model import Bounce
from .notice import auto_reply, bounce_subject, daemon_sender, delay_notice, notice_text
from .original import Original
from .status import refined_status
from .taxonomy import BounceRules
from .textformats import ADDRESS, FORMATS, Found

__all__ = ["text_bounces"]

_ADDR: Final = re.compile(ADDRESS)
_SYSTEM_LOCAL: Final = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|maildaemon|"
                                  r"noreply|no-reply|abuse|root)$", re.IGNORECASE)
_FAILURE_WORDS: Final = re.compile(
    r"\b(fail\w*|undeliver\w*|not (be )?delivered|unknown|rejected|not exist|no such|"
    r"invalid|could not|couldn't|unable|permanent|full|quota|refused|blocked|denied|"
    r"bounced|not found|did not receive|not (be )?reached)\b", re.IGNORECASE)
_FOLLOWING: Final = re.compile(r"\bfollowing (recipients?|address(es)?)\b", re.IGNORECASE)
_REMOTE_HOST: Final = re.compile(r"\bhost\s+([A-Za-z0-9.-]+\.[A-Za-z]{2,})\.?\s*\[|"
                                 r"\b([A-Za-z0-9.-]+\.[A-Za-z]{2,})\s*\[[0-9a-fA-F.:]+\]")
_REPORTING: Final = re.compile(r"(?:mail system at host|qmail-send program at|"
                               r"Generating server:|messages from|at host)\s+([A-Za-z0-9.-]+"
                               r"\.[A-Za-z]{2,})", re.IGNORECASE)
_CONTEXT_LIMIT: Final = 4000
_NOTICE_LIMIT: Final = 100_000


def text_bounces(top: Message, headers: Fields, original: Original, rules: BounceRules,
                 mime: str) -> tuple[list[Bounce], str] | None:
    """The bounces of a plain-text notice and the format's name, ``None`` when ``top`` is
    not one (see the module docstring)."""
    notice, _rest = notice_text(top)
    notice = notice[:_NOTICE_LIMIT]  # a notice is short; the rest would only cost time
    weak_allowed = (daemon_sender(headers) or bounce_subject(headers)
                    or "x-failed-recipients" in headers) and not auto_reply(headers)
    excluded = _excluded(headers)
    found: list[Found] = []
    name = ""
    for fmt in FORMATS:
        marked = fmt.strong.search(notice) or (
            weak_allowed and fmt.weak is not None and fmt.weak.search(notice))
        if not marked:
            continue
        found = [f for f in fmt.extract(notice) if f.recipient.lower() not in excluded
                 and not _system(f.recipient)]
        if found:
            name = fmt.name
            break
    if not found and weak_allowed and (
            (daemon_sender(headers) and bounce_subject(headers))
            or "x-failed-recipients" in headers):
        found, name = _generic(headers, notice, excluded), "generic"
    if not found:
        return None
    delayed_notice = delay_notice(headers, notice)
    arrived_at = _date(_first(headers, "date"))
    envelope = _first_address(headers.get("to", ()))
    reporting = _reporting(notice) or _from_domain(headers)
    context = _collapsed(notice[:_CONTEXT_LIMIT]) if len(found) == 1 else None
    bounces = []
    for item in _merged(found):
        diagnostic = _collapsed(item.text)
        status = refined_status(None, diagnostic)[0] or refined_status(None, context)[0]
        delayed = item.delayed if item.delayed is not None else delayed_notice
        bounces.append(classified(
            rules, original=original, recipient=item.recipient,
            action="delayed" if delayed else "failed", status=status,
            status_source="text" if status else None,
            diagnostic=diagnostic, context=context, remote_mta=_remote(item.text),
            reporting_mta=reporting, arrived_at=arrived_at, envelope=envelope, fmt=name,
            mime=mime))
    return bounces, name


def _merged(found: Sequence[Found]) -> list[Found]:
    """One ``Found`` per address (case-insensitive), texts joined."""
    merged: dict[str, Found] = {}
    for item in found:
        key = item.recipient.lower()
        if key in merged:
            before = merged[key]
            merged[key] = Found(before.recipient, f"{before.text}\n{item.text}".strip(),
                                before.delayed if before.delayed is not None else item.delayed)
        else:
            merged[key] = item
    return list(merged.values())


def _generic(headers: Fields, notice: str, excluded: set[str]) -> list[Found]:
    """``X-Failed-Recipients`` addresses with the notice as their text, else each address
    on a line that speaks of a failure, with its paragraph."""
    failed = [address for _, address in getaddresses(list(headers.get("x-failed-recipients",
                                                                      ())))
              if address and "@" in address and address.lower() not in excluded]
    if failed:
        return [Found(address, notice) for address in dict.fromkeys(failed)]
    found: list[Found] = []
    paragraphs = re.split(r"\n[ \t]*\n", notice)
    for i, paragraph in enumerate(paragraphs):
        listed = _address_list(paragraph)
        before = paragraphs[i - 1] if i else ""
        if listed and _FAILURE_WORDS.search(before) and (
                before.rstrip().endswith(":") or _FOLLOWING.search(before)):
            # "was not delivered to:" or "... the following recipients, due to ..." / the
            # addresses / "because:" / the reason
            following = "\n".join([before, *paragraphs[i + 1:i + 4]])
            found += [Found(address, following) for address in listed
                      if address.lower() not in excluded and not _system(address)]
            continue
        if not _FAILURE_WORDS.search(paragraph):
            continue
        for match in _ADDR.finditer(paragraph):
            address = match.group(0).rstrip(".")
            if address.lower() not in excluded and not _system(address):
                found.append(Found(address, paragraph))
    return found


def _address_list(paragraph: str) -> list[str]:
    """The addresses of a paragraph made only of addresses, one a line (else ``[]``)."""
    lines = [line.strip().strip("<>") for line in paragraph.split("\n") if line.strip()]
    return lines if lines and all(_ADDR.fullmatch(line) for line in lines) else []


def _excluded(headers: Fields) -> set[str]:
    """The notice's own addresses (lowercased): never a failed recipient."""
    raw = [value for name in ("from", "to", "return-path", "sender", "reply-to", "cc")
           for value in headers.get(name, ())]
    return {address.lower() for _, address in getaddresses(raw) if address}


def _system(address: str) -> bool:
    """Whether ``address`` is a mail system's (MAILER-DAEMON, postmaster...)."""
    return bool(_SYSTEM_LOCAL.match(address.partition("@")[0]))


def _remote(text: str) -> str | None:
    """The remote host a recipient's text names (``host mx.example.com[192.0.2.1]``)."""
    found = _REMOTE_HOST.search(text)
    return (found.group(1) or found.group(2)).lower() if found else None


def _reporting(notice: str) -> str | None:
    """The host that wrote the notice, when the notice names it."""
    found = _REPORTING.search(notice)
    return found.group(1).rstrip(".").lower() if found else None
