"""``parse_report``: one received message as ``Complaint`` and ``Bounce`` values.

- ARF (RFC 5965): a multipart holding a ``message/feedback-report`` part; the original is a
  sibling ``message/rfc822`` or ``text/rfc822-headers`` part.
- DSN (RFC 3464, and RFC 6533's ``message/global-delivery-status``): a multipart holding a
  ``message/delivery-status`` part; one ``Bounce`` per recipient whose Action is ``failed``,
  a ``skipped`` note for every other recipient.
- Microsoft JMRP: no report part at all, just the original attached as ``message/rfc822``. It is
  only read as a complaint when the attached message carries an ``X-FL-Ref`` header (valid or
  not) and the message does not look like a non-standard bounce (MAILER-DAEMON/postmaster
  sender, "Undeliverable"-style subject): a bounce misread as a complaint would be worse than
  a report rejected with a reason.
- Several reports in one message (a ``multipart/mixed`` or ``multipart/digest`` wrapper of
  ``message/rfc822`` reports): all of them; ``kind`` is then ``"multiple"``.

Decisions:

- Line endings are normalised to LF before parsing (see :mod:`.mime` for how it is read).
- A report whose original is not its sibling, but the message holds exactly one report and one
  or more attached messages elsewhere, takes the first of those as its original.
- A problem with the reference is data (``ref_problem``); only a message that holds no usable
  report at all raises ``EspReportError``.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from email.message import Message
from email.utils import getaddresses
from typing import Final, Literal

from .mime import (Fields, _blocks, _collapsed, _date, _describe, _fields, _first,
                   _first_address, _flatten, _from_domain, _merged, _message_id, _parse,
                   _untyped)
from .model import Bounce, Complaint, EspReportError, ParsedReport, ProfileRef
from .parts import _Attached, _Report, _scan
from .refs import REF_HEADER, RefSecrets, read_ref

__all__ = ["parse_report"]

_NO_REF: Final = f"no {REF_HEADER} header in the returned message"
_NO_ORIGINAL: Final = ("the report returns no original message "
                       "(message/rfc822 or text/rfc822-headers)")
_MIME_LIMIT: Final = 200_000
_RECIPIENT_FIELDS: Final = ("final-recipient", "original-recipient", "action")
_BOUNCE_SENDERS: Final = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECTS: Final = re.compile(
    r"undeliver|delivery status notification|delivery failure|failure notice|returned mail"
    r"|mail delivery (failed|system)|non-delivery", re.IGNORECASE)
_REDACTED_LOCAL_PART: Final = re.compile(r"[xX*#._-]+")
_STATUS: Final = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


def parse_report(raw: bytes, ref_secret: RefSecrets, *, max_bytes: int = 10 * 2**20) -> ParsedReport:
    """The complaints and bounces that the e-mail ``raw`` reports (see the module docstring).

    ``ref_secret`` (one, or several after a change of secret) checks each returned
    ``X-FL-Ref``. Raises ``EspReportError`` when ``raw`` is larger than ``max_bytes``, empty,
    not an e-mail message, or holds no ARF report, JMRP report or DSN; the reason says what
    was found instead.
    """
    if len(raw) > max_bytes:
        raise EspReportError(f"the message is {len(raw)} bytes, over the limit of "
                             f"{max_bytes} bytes")
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not text.strip():
        raise EspReportError("the message is empty")
    try:
        return _parse_report(text, ref_secret)
    except RecursionError:
        raise EspReportError("the message nests its parts too deeply to be read") from None


def _parse_report(text: bytes, secret: RefSecrets) -> ParsedReport:
    """``parse_report`` after the size check and line-end normalisation."""
    top = _parse(text)
    if not _fields(top):
        raise EspReportError("not an e-mail message: it does not start with a header block")
    found = _scan(top, top, 0)
    reports = [item for item in found if isinstance(item, _Report)]
    attached = [item for item in found if isinstance(item, _Attached)]
    notes = [item for item in found if isinstance(item, str)]
    if not reports:
        return _jmrp_reports(top, attached, notes, secret)
    if len(reports) == 1 and reports[0].original is None and attached:
        report, adopted = reports[0], attached.pop(0)
        reports = [_Report(report.kind, report.carrier, report.part, adopted.original)]
    notes += [f"ignored an attached message that is not a report ({_describe(item.original)})"
              for item in attached]
    complaints: list[Complaint] = []
    bounces: list[Bounce] = []
    for report in reports:
        if report.kind == "arf":
            complaints.append(_arf_complaint(report, secret))
        else:
            mime = _mime_text(text if report.carrier is top else _flatten(report.carrier))
            found_bounces, dsn_notes = _dsn_bounces(report, secret, mime)
            bounces += found_bounces
            notes += dsn_notes
    kind = "multiple" if len(reports) > 1 else reports[0].kind
    return ParsedReport(kind, tuple(complaints), tuple(bounces), tuple(notes))


def _jmrp_reports(top: Message, attached: Sequence[_Attached], notes: list[str],
                  secret: RefSecrets) -> ParsedReport:
    """The JMRP complaints of a message without ARF or DSN parts: its attached messages that
    carry ``X-FL-Ref``. Raises ``EspReportError`` when there are none."""
    carrying = [item for item in attached if REF_HEADER.lower() in item.original]
    what = f"a {top.get_content_type()} message"
    also = "".join(f"; {note}" for note in notes)
    if not attached:
        raise EspReportError(f"{what} with no feedback-report, delivery-status or attached "
                             f"message{also}")
    if not carrying:
        raise EspReportError(f"{what} with no feedback-report or delivery-status part, whose "
                             f"{len(attached)} attached message(s) carry no {REF_HEADER} "
                             f"header (so it is no JMRP report either){also}")
    if _looks_like_bounce(_fields(top)):
        raise EspReportError(f"{what} that looks like a bounce without a delivery-status part "
                             "(sent by MAILER-DAEMON/postmaster or with a non-delivery "
                             "subject); not read as a JMRP complaint")
    notes = notes + [f"ignored an attached message without {REF_HEADER} "
                     f"({_describe(item.original)})" for item in attached
                     if REF_HEADER.lower() not in item.original]
    complaints = tuple(_jmrp_complaint(item, secret) for item in carrying)
    kind: Literal["jmrp", "multiple"] = "multiple" if len(complaints) > 1 else "jmrp"
    return ParsedReport(kind, complaints, (), tuple(notes))


def _looks_like_bounce(headers: Fields) -> bool:
    """Whether a message's From or Subject is a mail system's non-delivery notice."""
    sender = _first_address(headers.get("from", ())) or ""
    subject = _first(headers, "subject") or ""
    return bool(_BOUNCE_SENDERS.match(sender) or _BOUNCE_SUBJECTS.search(subject))


# --- complaints -------------------------------------------------------------------------------


def _arf_complaint(report: _Report, secret: RefSecrets) -> Complaint:
    """The complaint of one ARF report."""
    fields = _merged(_blocks(report.part))
    original = report.original or {}
    carrier = _fields(report.carrier)
    ref, problem = _ref_of(report.original, secret)
    feedback_type = (_first(fields, "feedback-type") or "other").split()[0].lower()
    return Complaint(
        ref=ref, ref_problem=problem,
        recipient=_recipient([*fields.get("original-rcpt-to", ()), *original.get("to", ())]),
        feedback_type=feedback_type,
        reporter=_reporter(fields, carrier),
        source_ip=_ip(_first(fields, "source-ip")),
        arrived_at=(_date(_first(fields, "arrival-date"))
                    or _date(_first(fields, "received-date"))
                    or _date(_first(carrier, "date"))),
        message_id=_message_id(original))


def _jmrp_complaint(item: _Attached, secret: RefSecrets) -> Complaint:
    """The complaint of one JMRP attached message; Microsoft names the complaining mailbox in
    ``X-HmXmrOriginalRecipient`` of the returned message, which is preferred to its To."""
    carrier = _fields(item.carrier)
    ref, problem = _ref_of(item.original, secret)
    recipients = [*item.original.get("x-hmxmroriginalrecipient", ()),
                  *item.original.get("to", ())]
    return Complaint(ref=ref, ref_problem=problem, recipient=_recipient(recipients),
                     feedback_type="abuse", reporter=_from_domain(carrier), source_ip=None,
                     arrived_at=_date(_first(carrier, "date")),
                     message_id=_message_id(item.original))


def _reporter(fields: Fields, carrier: Fields) -> str | None:
    """Who reported: Reporting-MTA's host, else User-Agent, else the report's From domain."""
    mta = _untyped(_first(fields, "reporting-mta"))
    if mta:
        return mta.split()[0]
    return _first(fields, "user-agent") or _from_domain(carrier)


def _recipient(values: Sequence[str]) -> str | None:
    """The first address in ``values`` that is not redacted."""
    for value in values:
        for _, address in getaddresses([_untyped(value) or ""]):
            if _unredacted(address):
                return address
    return None


def _unredacted(address: str) -> bool:
    """False for a provider's stand-in: no ``@``, "redacted", or a local part all x/*."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not domain or "redacted" in address.lower():
        return False
    return bool(local) and not _REDACTED_LOCAL_PART.fullmatch(local)


def _ip(value: str | None) -> str | None:
    """``value`` as a normalised IP address, ``None`` when it is not one."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


# --- bounces ----------------------------------------------------------------------------------


def _dsn_bounces(report: _Report, secret: RefSecrets, mime: str) -> tuple[list[Bounce], list[str]]:
    """A ``Bounce`` per failed recipient of a DSN, and a note per other recipient."""
    blocks = _blocks(report.part)
    recipients = [block for block in blocks if _is_recipient_block(block)]
    per_message = blocks[0] if blocks and not _is_recipient_block(blocks[0]) else {}
    carrier = _fields(report.carrier)
    original = report.original or {}
    ref, problem = _ref_of(report.original, secret)
    arrived_at = _date(_first(per_message, "arrival-date")) or _date(_first(carrier, "date"))
    envelope = _first_address(carrier.get("to", ()))
    bounces: list[Bounce] = []
    notes: list[str] = [] if recipients else ["a delivery-status report without recipients"]
    for block in recipients:
        recipient = (_first_address(block.get("final-recipient", ()))
                     or _first_address(block.get("original-recipient", ())))
        action = (_first(block, "action") or "").split(" ", 1)[0].lower()
        if action != "failed":
            notes.append(f"recipient {recipient or '(unnamed)'}: "
                         + (f"action {action} (not a bounce)" if action else "no Action field"))
            continue
        status = _STATUS.search(_first(block, "status") or "")
        bounces.append(Bounce(
            ref=ref, ref_problem=problem, recipient=recipient, action=action,
            status=status.group() if status else None,
            diagnostic=_collapsed(_untyped(_first(block, "diagnostic-code"))),
            remote_mta=_untyped(_first(block, "remote-mta")) or None,
            arrived_at=arrived_at, message_id=_message_id(original), envelope=envelope,
            mime=mime))
    return bounces, notes


def _is_recipient_block(block: Fields) -> bool:
    """Whether a delivery-status block is per-recipient (not the per-message block)."""
    return any(name in block for name in _RECIPIENT_FIELDS)


def _mime_text(data: bytes) -> str:
    """A DSN for ``Bounce.mime``: text, at most 200,000 characters."""
    return data.decode("utf-8", "replace")[:_MIME_LIMIT]


# --- references in the returned original ------------------------------------------------------


def _ref_of(original: Fields | None, secret: RefSecrets) -> tuple[ProfileRef | None, str | None]:
    """``(ref, None)`` from the first valid ``X-FL-Ref`` of ``original``, else
    ``(None, why not)``."""
    if original is None:
        return None, _NO_ORIGINAL
    values = original.get(REF_HEADER.lower(), ())
    if not values:
        return None, _NO_REF
    problems: list[str] = []
    for value in values:
        try:
            return read_ref(value, secret), None
        except EspReportError as exc:
            problems.append(str(exc))
    return None, problems[0]
