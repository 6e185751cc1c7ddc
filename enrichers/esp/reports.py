"""``parse_report``: one received message as ``Complaint`` and ``Bounce`` values, parsed and
classified; mapping them to profiles is a second step (:func:`.refs.resolve_ref`).

What is recognised, in this order:

1. a JSON notification (Amazon SES style, or in an SNS envelope), as the whole input or as
   the body of an e-mail (:mod:`.jsonreports`);
2. report parts: ARF (``message/feedback-report``, RFC 5965) and DSN
   (``message/delivery-status`` or RFC 6533's ``message/global-delivery-status``), also a
   report part labelled ``text/plain`` inside a ``multipart/report`` (:mod:`.parts`); several
   reports in one message (a ``multipart/mixed`` or ``multipart/digest`` of them): all;
3. report fields in the text of a message without parts: a ``multipart/report`` whose MIME
   boundaries are missing, or a ``text/plain`` feedback report (``Feedback-Type: opt-out``);
4. plain-text bounces of the common MTAs and providers (:mod:`.textbounce`);
5. Microsoft JMRP: no report part, the original attached as ``message/rfc822`` carrying our
   ``X-FL-Ref`` or Microsoft's ``X-HmXmrOriginalRecipient``, in a message that looks neither
   like a bounce nor like an auto-reply.

Anything else raises ``EspReportError`` with what was found instead (an auto-reply, an
ordinary message...). Decisions:

- Line endings are normalised to LF before parsing (see :mod:`.mime` for how it is read).
- A report whose original is not its sibling, but the message holds exactly one report and one
  or more attached messages elsewhere, takes the first of those as its original; without any,
  an original quoted in the text is used (:mod:`.original`).
"""
from __future__ import annotations

from collections.abc import Sequence
from email.message import Message
from typing import Final

from .arf import arf_complaints, jmrp_complaint
from .dsn import dsn_bounces
from .fieldblocks import arf_fields, dsn_blocks, looks_like_arf, looks_like_dsn
from .jsonreports import json_findings, looks_like_json
from .mime import _describe, _fields, _flatten, _parse
from .model import Bounce, Complaint, EspReportError, ParsedReport, ReportKind
from .notice import auto_reply, bounce_subject, daemon_sender, notice_text
from .original import Original, either, from_fields, from_text
from .parts import _Attached, _Report, _scan, report_text
from .refs import REF_HEADER
from .taxonomy import DEFAULT_RULES, BounceRules
from .textbounce import text_bounces

__all__ = ["parse_report"]

_MIME_LIMIT: Final = 200_000
_JMRP_MARKERS: Final = (REF_HEADER.lower(), "x-hmxmroriginalrecipient")


def parse_report(raw: bytes, *, max_bytes: int = 10 * 2**20,
                 rules: BounceRules = DEFAULT_RULES) -> ParsedReport:
    """The complaints and bounces that ``raw`` reports (see the module docstring), each
    bounce classified by ``rules``.

    Raises ``EspReportError`` when ``raw`` is larger than ``max_bytes``, empty, neither an
    e-mail message nor JSON, or holds no report; the reason says what was found instead. It
    raises nothing else, whatever ``raw`` holds.
    """
    if len(raw) > max_bytes:
        raise EspReportError(f"the message is {len(raw)} bytes, over the limit of "
                             f"{max_bytes} bytes")
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not text.strip():
        raise EspReportError("the message is empty")
    if looks_like_json(text):
        return _json_report(text, rules)
    try:
        return _parse_report(text, rules)
    except RecursionError:
        raise EspReportError("the message nests its parts too deeply to be read") from None


def _json_report(text: bytes, rules: BounceRules) -> ParsedReport:
    complaints, bounces, notes = json_findings(text, rules)
    return ParsedReport("json", tuple(complaints), tuple(bounces), tuple(notes))


def _parse_report(text: bytes, rules: BounceRules) -> ParsedReport:
    """``parse_report`` after the size check and line-end normalisation."""
    top = _parse(text)
    headers = _fields(top)
    if not headers:
        raise EspReportError("not an e-mail message: it does not start with a header block")
    found = _scan(top, top, 0)
    reports = [item for item in found if isinstance(item, _Report)]
    attached = [item for item in found if isinstance(item, _Attached)]
    notes = [item for item in found if isinstance(item, str)]
    if not reports:
        return _without_report_parts(top, headers, text, attached, notes, rules)
    if len(reports) == 1 and reports[0].original is None and attached:
        report, adopted = reports[0], attached.pop(0)
        reports = [_Report(report.kind, report.carrier, report.part, adopted.original)]
    notes += [f"ignored an attached message that is not a report ({_describe(item.original)})"
              for item in attached]
    complaints: list[Complaint] = []
    bounces: list[Bounce] = []
    for report in reports:
        carrier = _fields(report.carrier)
        whole = text if report.carrier is top else _flatten(report.carrier)
        original = from_fields(report.original)
        if not original.ref_values:
            original = either(original, from_text(_body_text(whole)))
        body = report_text(report.part)
        if report.kind == "arf":
            complaints += arf_complaints(arf_fields(body), carrier, original)
        else:
            per_message, recipients = dsn_blocks(body)
            found_bounces, dsn_notes = dsn_bounces(per_message, recipients, carrier, original,
                                                   rules, _mime_text(whole))
            bounces += found_bounces
            notes += dsn_notes
    kind: ReportKind = "multiple" if len(reports) > 1 else reports[0].kind
    return ParsedReport(kind, tuple(complaints), tuple(bounces), tuple(notes))


def _without_report_parts(top: Message, headers: dict[str, tuple[str, ...]], text: bytes,
                          attached: Sequence[_Attached], notes: list[str],
                          rules: BounceRules) -> ParsedReport:
    """Steps 1 and 3-5 of the module docstring for a message without report parts."""
    notice, rest = notice_text(top)
    body = notice + rest
    if looks_like_json(body.encode("utf-8", "replace")) and not attached:
        return _json_report(body.encode("utf-8"), rules)
    quoted = from_text(body)
    if not quoted.ref_values:
        quoted = either(quoted, from_text(_body_text(text)))
    original = either(from_fields(attached[0].original) if attached else Original(False, (), None),
                      quoted)
    mime = _mime_text(text)
    if looks_like_arf(body):
        return ParsedReport("arf", tuple(arf_complaints(arf_fields(body), headers, original)),
                            (), tuple(notes))
    if looks_like_dsn(body):
        per_message, recipients = dsn_blocks(body)
        bounces, dsn_notes = dsn_bounces(per_message, recipients, headers, original, rules,
                                         mime)
        return ParsedReport("dsn", (), tuple(bounces), tuple(notes + dsn_notes))
    read = text_bounces(top, headers, original, rules, mime)
    if read is not None:
        return ParsedReport("text", (), tuple(read[0]), tuple(notes))
    return _jmrp_reports(top, headers, attached, notes)


def _jmrp_reports(top: Message, headers: dict[str, tuple[str, ...]],
                  attached: Sequence[_Attached], notes: list[str]) -> ParsedReport:
    """The JMRP complaints of a message: its attached messages that carry ``X-FL-Ref`` or
    ``X-HmXmrOriginalRecipient``. Raises ``EspReportError`` when there are none."""
    carrying = [item for item in attached
                if any(marker in item.original for marker in _JMRP_MARKERS)]
    what = f"a {top.get_content_type()} message"
    also = "".join(f"; {note}" for note in notes)
    if auto_reply(headers):
        raise EspReportError(f"{what} that is an auto-reply (out-of-office, automatic reply "
                             f"or challenge), not a report{also}")
    if daemon_sender(headers) or bounce_subject(headers):
        raise EspReportError(f"{what} that looks like a bounce (sent by a mail system or "
                             "with a non-delivery subject) but names no failed recipient in "
                             f"a format we read{also}")
    if not attached:
        raise EspReportError(f"{what} with no feedback-report, delivery-status or attached "
                             f"message, and no bounce text we recognise{also}")
    if not carrying:
        raise EspReportError(f"{what} with no feedback-report or delivery-status part, whose "
                             f"{len(attached)} attached message(s) carry no {REF_HEADER} or "
                             f"X-HmXmrOriginalRecipient header (so it is no JMRP report "
                             f"either){also}")
    notes = notes + [f"ignored an attached message without {REF_HEADER} "
                     f"({_describe(item.original)})" for item in attached
                     if item not in carrying]
    complaints = tuple(jmrp_complaint(_fields(item.carrier), item.original,
                                      from_fields(item.original)) for item in carrying)
    kind: ReportKind = "multiple" if len(complaints) > 1 else "jmrp"
    return ParsedReport(kind, complaints, (), tuple(notes))


def _body_text(message: bytes) -> str:
    """A message's text after its own header block (where a quoted original can be)."""
    return message.partition(b"\n\n")[2].decode("utf-8", "replace")


def _mime_text(data: bytes) -> str:
    """A report for ``Bounce.mime``: text, at most 200,000 characters."""
    return data.decode("utf-8", "replace")[:_MIME_LIMIT]
