"""Finding the reports in a message: its ARF and DSN report parts (with the original each
returns) and its attached messages that hold no report (JMRP originals, or stray).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Final, Literal

from .fieldblocks import looks_like_arf, looks_like_dsn
from .mime import (_ENCODED, Fields, _children, _fields, _parse, _transfer_decoded,
                   _transfer_encoding)

_MAX_DEPTH: Final = 16

_REPORT_TYPES: Final[Mapping[str, Literal["arf", "dsn"]]] = {
    "message/feedback-report": "arf",
    "message/delivery-status": "dsn",
    "message/global-delivery-status": "dsn",
}
_MESSAGE_TYPES: Final = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES: Final = frozenset({"text/rfc822-headers", "message/rfc822-headers",
                                  "message/global-headers"})


@dataclass(frozen=True, slots=True)
class _Report:
    """An ARF or DSN report part, the message that carries it, and its returned original."""

    kind: Literal["arf", "dsn"]
    carrier: Message
    part: Message
    original: Fields | None


@dataclass(frozen=True, slots=True)
class _Attached:
    """A ``message/rfc822`` attachment that holds no report: a JMRP original, or stray."""

    carrier: Message
    original: Fields


_Found = _Report | _Attached | str  # str: a note for ``skipped``


def _scan(entity: Message, carrier: Message, depth: int) -> list[_Found]:
    """The reports, report-less attached messages and notes in ``entity``, in order.

    ``carrier`` is the nearest enclosing message (its From/To/Date describe a report). A
    multipart with a report part is a report, its other parts are not searched further; an
    attached message is searched as a message of its own.
    """
    if depth > _MAX_DEPTH:
        return [f"parts nested more than {_MAX_DEPTH} levels deep were not read"]
    if entity.get_content_type() in _MESSAGE_TYPES:
        inner = _attached_message(entity)
        if inner is None:
            return []
        found = _scan(inner, inner, depth + 1)
        if any(isinstance(item, _Report) for item in found):
            return found
        return [_Attached(carrier, _fields(inner)), *(i for i in found if isinstance(i, str))]
    if entity.get_content_maintype() != "multipart":
        return []
    children = _children(entity)
    for child in children:
        kind = _REPORT_TYPES.get(child.get_content_type())
        if kind is not None:
            return [_Report(kind, carrier, child, _original(children))]
    if entity.get_content_type() == "multipart/report":
        mislabelled = _text_report(entity, children)
        if mislabelled is not None:
            return [_Report(mislabelled[0], carrier, mislabelled[1], _original(children))]
    return [item for child in children for item in _scan(child, carrier, depth + 1)]


def _text_report(report: Message, children: Sequence[Message]) -> tuple[Literal["arf", "dsn"],
                                                                       Message] | None:
    """A report part sent as ``text/plain`` (an old ARF draft's opt-out report, a gateway
    that relabelled the delivery-status): a text part after the first whose fields are a
    feedback report or a delivery status; ``report-type`` says which to look for first."""
    wanted = (report.get_param("report-type") or "")
    order: tuple[Literal["arf", "dsn"], ...] = (
        ("dsn", "arf") if "delivery" in str(wanted).lower() else ("arf", "dsn"))
    for child in children[1:]:
        if child.get_content_maintype() != "text" or child.get_content_type() == "text/html":
            continue
        text = report_text(child)
        for kind in order:
            if (looks_like_arf if kind == "arf" else looks_like_dsn)(text):
                return kind, child
    return None


def report_text(part: Message) -> str:
    """A report part's body as text (transfer encoding undone, LF line ends)."""
    return _transfer_decoded(part).decode("utf-8", "replace")


def _original(siblings: Sequence[Message]) -> Fields | None:
    """The headers of the returned original among a report's parts, if any."""
    for part in siblings:
        ctype = part.get_content_type()
        if ctype in _MESSAGE_TYPES:
            inner = _attached_message(part)
            if inner is not None:
                return _fields(inner)
        elif ctype in _HEADER_TYPES:
            return _fields(BytesHeaderParser(policy=compat32).parsebytes(
                _transfer_decoded(part).lstrip(b"\n")))
    return None


def _attached_message(part: Message) -> Message | None:
    """The message inside a ``message/rfc822`` part, also when a provider base64-encoded it
    (which RFC 2046 forbids and the parser does not undo)."""
    payload = part.get_payload()
    if _transfer_encoding(part) not in _ENCODED and isinstance(payload, list):
        first = payload[0] if payload else None
        return first if isinstance(first, Message) else None
    data = _transfer_decoded(part).lstrip(b"\n")
    return _parse(data) if data.strip() else None
