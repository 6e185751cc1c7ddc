"""A mail system's notice as text, and the signals that say whether a message is one.

A bounce without a ``delivery-status`` part is read from its human-readable text
(:mod:`.textbounce`). Here:

- ``notice_text``: the readable text of a message (``text/plain`` parts, else ``text/html``
  turned into text), the returned original cut off, and the part after the cut (where a
  quoted original's headers are);
- ``daemon_sender``, ``bounce_subject``, ``delay_notice``, ``auto_reply``: the signals.

Decision: a message that an auto-reply signal marks (``Auto-Submitted: auto-replied`` from a
person's address, ``X-Autoreply``, an "Out of office" / "Automatic reply" subject...) is never
read as a bounce from weak signals alone; only an MTA's own wording (:mod:`.textbounce`
``strong`` markers) makes it one. Mail systems' notices come from ``MAILER-DAEMON``,
``postmaster`` or a "Mail Delivery System/Subsystem" sender; auto-replies come from people.
"""
from __future__ import annotations

import re
from email.message import Message
from html.parser import HTMLParser
from typing import Final

from .mime import Fields, _children, _first, _first_address, _flatten

__all__ = ["notice_text", "daemon_sender", "bounce_subject", "delay_notice", "auto_reply",
           "ORIGINAL_MARKERS"]

_DAEMON: Final = re.compile(
    r"^(mailer-daemon|mailer_daemon|mail-daemon|maildaemon|postmaster|mailerdaemon|"
    r"mail\.delivery\.subsystem|microsoftexchange[0-9a-f]*|bounces?|mdaemon|"
    r"mail-delivery|no-?reply-bounce)(\+[^@]*)?@", re.IGNORECASE)
_DAEMON_NAME: Final = re.compile(r"mail delivery (system|subsystem|service)|mailer.?daemon|"
                                 r"postmaster|mail administrator|system administrator",
                                 re.IGNORECASE)
_BOUNCE_SUBJECT: Final = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery (failure|failed|problem)|"
    r"failure notice|returned mail|mail failure|mail delivery (failed|failure|system|problem)|"
    r"non-?delivery|nondeliverable|delivery notification|could not be delivered|"
    r"mail system error|message not delivered|delivery has failed|rejected:|"
    r"warning: message .{0,40}delayed|delivery delayed|mail could not be delivered|"
    r"delayed mail|not delivered|unzustellbar|non remis|unable to deliver|bounced? mail|"
    r"returned to sender|delivery report", re.IGNORECASE)
_DELAY: Final = re.compile(
    r"THIS IS A WARNING ONLY|has not yet been delivered|Delivery has been delayed|"
    r"transient non-fatal errors|could not send message for past|"
    r"temporary problem delivering|will retry for|will be retried|still trying|"
    r"Delivery attempts will continue|DELAYED MAIL|has been delayed|"
    r"delivery is delayed|Delivery Status Notification \(Delay\)|is still being retried|"
    r"not been delivered yet|will keep trying", re.IGNORECASE)
_DELAY_SUBJECT: Final = re.compile(r"delay|warning|not yet delivered|still trying|"
                                   r"in queue|retrying", re.IGNORECASE)
_AUTO_SUBJECT: Final = re.compile(  # at the start: the original's subject follows
    r"^\s*(\[[^\]]*\]\s*)?(out of (the )?office|automatic reply|automatische antwort|"
    r"auto(matic)?[- ]?(reply|response|antwort|responder)|auto:|autoreply|away from|"
    r"on vacation|vacation|abwesen|absence|r[ée]ponse automatique|risposta automatica|"
    r"respuesta autom|i am out|i'm out|on holiday|thank you for (your|contacting)|"
    r"we (have )?received your|(please )?(confirm|verify)|verification|challenge|"
    r"approval (needed|required)|\[?ticket)", re.IGNORECASE)
ORIGINAL_MARKERS: Final = re.compile(
    r"^[ \t>]*(-{2,}[ \t]*Below this line is a copy of the message|"
    r"-{2,}[ \t]*This is a copy of the message|"
    r"-{2,}[ \t]*(The )?(Original|Returned|Undelivered|Forwarded) message|"
    r"-{2,}[ \t]*Original message (follows|headers)|Original message headers:|"
    r"-{2,}[ \t]*Message header follows|-{2,}[ \t]*Unsent Message below|"
    r"-{2,}[ \t]*The header of the original message is following|"
    r"-{2,}[ \t]*Returned mail follows|-{2,}[ \t]*Headers of (the )?original message|"
    r"-{3,}[ \t]*Original[ \t]+Message[ \t]*-{3,}|Original Message Headers[ \t]*$|"
    r"-{2,}[ \t]*Message(s)? that (could not|couldn't) be delivered)",
    re.IGNORECASE | re.MULTILINE)
_ATTACHED: Final = frozenset({"message/rfc822", "message/global", "text/rfc822-headers",
                              "message/rfc822-headers", "message/global-headers",
                              "message/delivery-status", "message/global-delivery-status",
                              "message/feedback-report"})


# a report sent as the whole message, not inside a multipart/report: its fields are the text
_REPORT_BODIES: Final = frozenset({"message/delivery-status", "message/feedback-report",
                                   "message/global-delivery-status"})


def daemon_sender(headers: Fields) -> bool:
    """Whether the message comes from a mail system (MAILER-DAEMON, postmaster...)."""
    sender = _first_address(headers.get("from", ())) or ""
    return bool(_DAEMON.match(sender) or _DAEMON_NAME.search(_first(headers, "from") or "")
                or (_first(headers, "return-path") or "").strip() in ("<>", "")
                and _DAEMON_NAME.search(_first(headers, "from") or ""))


def bounce_subject(headers: Fields) -> bool:
    """Whether the Subject is a non-delivery notice's."""
    return bool(_BOUNCE_SUBJECT.search(_first(headers, "subject") or ""))


def delay_notice(headers: Fields, text: str) -> bool:
    """Whether the notice reports a delay (the MTA is still trying), not a failure."""
    subject = _first(headers, "subject") or ""
    return bool(_DELAY.search(text) or (_DELAY_SUBJECT.search(subject)
                                        and not re.search(r"fail|undeliver", subject, re.I)))


def auto_reply(headers: Fields) -> bool:
    """Whether the message is an auto-reply, out-of-office or challenge (RFC 3834 and common
    practice), judged from its header only."""
    if any(name in headers for name in ("x-autoreply", "x-autorespond", "x-autoresponse",
                                        "x-vacation", "x-autogenerated")):
        return True
    precedence = (_first(headers, "precedence") or "").lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    if "auto-replied" in (_first(headers, "auto-submitted") or "").lower() and not (
            daemon_sender(headers)):
        return True
    return bool(_AUTO_SUBJECT.search(_first(headers, "subject") or ""))


def notice_text(message: Message) -> tuple[str, str]:
    """``(notice, rest)``: the readable text of ``message`` up to the returned original, and
    the text after that cut (a quoted original, or ``""``)."""
    plain: list[str] = []
    html: list[str] = []
    _collect(message, plain, html, 0)
    text = "\n".join(plain) if plain else "\n".join(_html_text(h) for h in html)
    text = text.replace("\r", "").replace("\u00a0", " ").replace("\u200b", "")
    cut = ORIGINAL_MARKERS.search(text)
    if cut is None:
        return text, ""
    return text[:cut.start()], text[cut.start():]


def _collect(entity: Message, plain: list[str], html: list[str], depth: int) -> None:
    """The text/plain and text/html bodies of ``entity`` outside returned messages."""
    ctype = entity.get_content_type()
    if depth > 8 or ctype in _ATTACHED and not (depth == 0 and ctype in _REPORT_BODIES):
        return
    if entity.get_content_maintype() == "multipart":
        for child in _children(entity):
            _collect(child, plain, html, depth + 1)
        if not _children(entity):  # a multipart without usable boundaries: read it as text
            plain.append(_decoded(entity))
        return
    if ctype in _REPORT_BODIES:
        plain.append(_report_body(entity))
    elif ctype == "text/html":
        html.append(_decoded(entity))
    elif ctype == "text/plain" or entity.get_content_maintype() != "text" and depth == 0:
        plain.append(_decoded(entity))


def _report_body(part: Message) -> str:
    """A report part's body as text (the parser splits delivery-status bodies into blocks)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return "\n".join(_flatten(item).decode("utf-8", "replace")
                         for item in payload if isinstance(item, Message))
    return _decoded(part)


def _decoded(part: Message) -> str:
    """A part's body as text: transfer encoding undone, then its charset (UTF-8 when unknown
    or wrong), undecodable bytes as U+FFFD."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown, or a name no codec can have ("utf\x00-8")
        return payload.decode("utf-8", "replace")


class _TextOf(HTMLParser):
    """The text of an HTML body, block elements as line breaks."""

    _BREAKS: Final = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4",
                                "pre", "blockquote", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.out.append("\n")
        elif tag == "td":
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def _html_text(html: str) -> str:
    """``html`` as plain text, one line per block, runs of blank lines collapsed."""
    parser = _TextOf()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is only a guard for the unexpected
        return re.sub(r"<[^>]*>", " ", html)
    lines = [" ".join(line.split()) for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
