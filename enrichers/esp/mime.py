"""Reading e-mail messages leniently: parsing, header blocks as ``Fields``, a multipart's
children, transfer decoding, and the values of header and report fields (addresses, dates,
Message-IDs).

Decisions:

- Parsing uses ``email.policy.compat32``: it never parses header values itself, so damaged
  headers cannot raise; values are read raw (``raw_items``), undecodable bytes become U+FFFD.
- Header folding is undone when read (line endings are normalised to LF by the caller,
  before parsing). Dates are returned in UTC.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email import message_from_bytes
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime
from io import BytesIO
from typing import Final

__all__ = ["Fields"]

_ENCODED: Final = frozenset({"base64"})  # of message/* parts: see _transfer_decoded
_TYPED_VALUE: Final = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9.+_-]*\s*;\s*(.*)$", re.DOTALL)
_ANGLE_ADDR: Final = re.compile(r"<([^<>]*)>")
_BLANK_LINE: Final = re.compile(rb"\n[ \t]*\n")

Fields = Mapping[str, tuple[str, ...]]
"""A header block: lowercased field name -> its values in order, unfolded and stripped."""


# --- messages and header blocks ---------------------------------------------------------------


def _parse(data: bytes) -> Message:
    """``data`` parsed leniently (compat32: header values are never interpreted)."""
    return message_from_bytes(data, policy=compat32)


def _fields(message: Message) -> dict[str, tuple[str, ...]]:
    """The header block of ``message`` as ``Fields``."""
    collected: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        collected.setdefault(name.strip().lower(), []).append(_unfolded(_text(value)))
    return {name: tuple(values) for name, values in collected.items()}


def _blocks(part: Message) -> list[Fields]:
    """The field blocks of a feedback-report or delivery-status part, empty ones dropped.

    The parser gives ``message/delivery-status`` as a list of messages (one per block) and
    ``message/feedback-report`` as one message whose body holds any further blocks; a
    transfer-encoded or differently represented part is decoded and split on blank lines.
    """
    payload = part.get_payload()
    if _transfer_encoding(part) in _ENCODED or not isinstance(payload, list):
        return _split_blocks(_transfer_decoded(part))
    blocks: list[Fields] = []
    for item in payload:
        if isinstance(item, Message):
            blocks.append(_fields(item))
            rest = item.get_payload()
            if isinstance(rest, str) and rest.strip():
                blocks += _split_blocks(_to_bytes(rest))
    return [block for block in blocks if block]


def _split_blocks(data: bytes) -> list[Fields]:
    """Header blocks separated by blank lines, parsed one by one."""
    parser = BytesHeaderParser(policy=compat32)
    blocks = (_fields(parser.parsebytes(chunk.lstrip(b"\n") + b"\n"))
              for chunk in _BLANK_LINE.split(data))
    return [block for block in blocks if block]


def _merged(blocks: Sequence[Fields]) -> Fields:
    """Several blocks as one (a feedback report is one block, but some have blank lines)."""
    merged: dict[str, tuple[str, ...]] = {}
    for block in blocks:
        for name, values in block.items():
            merged[name] = merged.get(name, ()) + values
    return merged


def _children(entity: Message) -> list[Message]:
    """The parts of a multipart (nothing for a single part)."""
    payload = entity.get_payload()
    if not isinstance(payload, list):
        return []
    return [part for part in payload if isinstance(part, Message)]


def _transfer_encoding(part: Message) -> str:
    """The part's Content-Transfer-Encoding, lowercased ("" when absent)."""
    return (_first(_fields(part), "content-transfer-encoding") or "").lower()


def _transfer_decoded(part: Message) -> bytes:
    """The body of ``part`` as bytes, its transfer encoding undone.

    For ``message/*`` parts the parser already split the body into messages; they are
    written back out and base64-decoded here, because providers do base64-encode them.
    Quoted-printable is not undone for those: the parser's split loses its soft line breaks,
    so the part is read as it was parsed.
    """
    payload = part.get_payload()
    if not isinstance(payload, list):
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    body = b"\n".join(_flatten(item) for item in payload if isinstance(item, Message))
    if _transfer_encoding(part) in _ENCODED:
        try:
            return base64.b64decode(body)
        except binascii.Error:
            return b""
    return body


def _flatten(message: Message) -> bytes:
    """``message`` written back out as bytes, as parsed (LF line ends)."""
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=compat32).flatten(message)
    return out.getvalue()


def _to_bytes(text: str) -> bytes:
    """A parsed string back as the bytes it came from (the parser keeps undecodable bytes as
    surrogate escapes)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _text(value: object) -> str:
    """A raw header value as text; bytes that are not UTF-8 become U+FFFD."""
    return _to_bytes(str(value)).decode("utf-8", "replace")


# --- field values -----------------------------------------------------------------------------


def _unfolded(value: str) -> str:
    """A header value with its folding undone and outer whitespace removed."""
    return re.sub(r"\n(?=[ \t])", "", value).strip()


def _collapsed(value: str | None) -> str | None:
    """``value`` with each whitespace run as one space; ``None`` when empty."""
    collapsed = " ".join(value.split()) if value else ""
    return collapsed or None


def _untyped(value: str | None) -> str | None:
    """A report field without its type prefix (``rfc822;``, ``dns;``, ``smtp;``)."""
    if value is None:
        return None
    typed = _TYPED_VALUE.match(value)
    return (typed.group(1) if typed else value).strip()


def _first(headers: Fields, name: str) -> str | None:
    """The first non-empty value of field ``name``."""
    return next((value for value in headers.get(name, ()) if value), None)


def _first_address(values: Sequence[str]) -> str | None:
    """The first bare address in header or report field values."""
    for value in values:
        address = parseaddr(_untyped(value) or "")[1].strip()
        if address:
            return address
    return None


def _from_domain(headers: Fields) -> str | None:
    """The domain of a message's From address, lowercased."""
    _, at, domain = (_first_address(headers.get("from", ())) or "").rpartition("@")
    return domain.lower() if at and domain else None


def _message_id(headers: Fields) -> str | None:
    """The Message-ID of ``headers`` without its angle brackets."""
    value = _first(headers, "message-id")
    if value is None:
        return None
    bracketed = _ANGLE_ADDR.search(value)
    found = (bracketed.group(1) if bracketed else value).strip()
    return found or None


def _describe(headers: Fields) -> str:
    """A short description of a message for notes: its Message-ID or Subject."""
    message_id = _message_id(headers)
    if message_id:
        return f"Message-ID <{message_id}>"
    subject = _first(headers, "subject")
    return f"Subject {subject!r}" if subject else "no Message-ID"


def _date(value: str | None) -> datetime | None:
    """A report date (RFC 5322, or ISO 8601 as some reporters write) in UTC; naive as UTC."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:
        return None
