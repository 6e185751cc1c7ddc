"""The plain-text bounce formats of the widely deployed MTAs and mailbox providers, as data.

Each ``TextFormat`` has ``strong`` markers (the MTA's own wording, enough to read a message as
a bounce), optional ``weak`` markers (read as a bounce only from a mail-system sender or with
a non-delivery subject, see :mod:`.notice`) and an extractor that finds each failed recipient
and the text that explains it. Written from each MTA's documented and observed notice texts:

- ``qmail`` (also Yahoo, vpopmail): ``<addr>:`` then the remote host's words;
- ``postfix``: "This is the mail system at host ...", ``<addr>: host ... said: ...``;
- ``courier``: "running the Courier mail server", ``<addr>:`` then the SMTP dialogue;
- ``exim``: "The following address(es) failed:", indented address, indented reason;
- ``sendmail``: "----- The following addresses had permanent fatal errors -----";
- ``exchange`` (Exchange, Office 365, Outlook.com/Hotmail): "Delivery has failed to these
  recipients or groups", "Diagnostic information for administrators", "Remote Server
  returned '...'", "The following recipient(s) cannot be reached";
- ``gmail``: "Your message wasn't delivered to ...", "Delivery to the following recipient
  failed permanently", "The response from the remote server was:";
- ``ses``: "An error occurred while trying to deliver the mail to the following recipients".

Order matters: the first format whose markers match and whose extractor finds a recipient
wins; :mod:`.textbounce` then falls back to generic reading.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["ADDRESS", "TextFormat", "FORMATS", "Found"]

# The lookbehind lets a match start only where a run of address characters starts, and the
# local part is possessive: a long run without "@" costs linear time, not quadratic.
ADDRESS: Final = (r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]++@"
                  r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                  r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_ADDR: Final = re.compile(ADDRESS)


@dataclass(frozen=True, slots=True)
class Found:
    """One recipient a notice names: its address, the text about it, and whether the notice
    says this recipient is delayed (``None``: the notice as a whole decides)."""

    recipient: str
    text: str
    delayed: bool | None = None


@dataclass(frozen=True)
class TextFormat:
    """A plain-text bounce format (see the module docstring)."""

    name: str
    strong: re.Pattern[str]
    weak: re.Pattern[str] | None
    extract: Callable[[str], list[Found]]


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE)


_BLANK_LINE: Final = re.compile(r"\n[ \t]*\n")


def _paragraph_after(text: str, start: int, limit: int | None = None) -> str:
    """The lines of ``text`` from ``start`` to the next blank line (or ``limit``)."""
    stop = len(text) if limit is None else limit
    end = _BLANK_LINE.search(text, start, stop)
    return text[start:end.start() if end else stop]


# --- angle-bracket blocks: qmail, Yahoo, Postfix, Courier ------------------------------------

_ANGLE: Final = _re(rf"^[ \t]*<({ADDRESS})>(?:[ \t]*\(expanded from[^)]*\))?[ \t]*:[ \t]*(.*)$")


def _angle_blocks(text: str) -> list[Found]:
    """``<addr>: reason`` blocks, each up to the next blank line or the next block."""
    matches = list(_ANGLE.finditer(text))
    found = []
    for i, match in enumerate(matches):
        limit = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        block = _paragraph_after(text, match.end(), limit)
        found.append(Found(match.group(1), (match.group(2) + "\n" + block).strip()))
    return found


# --- Exim -----------------------------------------------------------------------------------

_EXIM_HEAD: Final = _re(r"(failed|delivered (is|are)|following address(\(es\)|es)?)[ \t]*:[ \t]*$")
_EXIM_ENTRY: Final = re.compile(rf"^( {{0,4}}|\t?)<?({ADDRESS})>?[ \t]*(:|\(|$)(.*)$")


def _exim_blocks(text: str) -> list[Found]:
    """After "The following address(es) failed:": an address line, then indented reasons."""
    head = _EXIM_HEAD.search(text)
    if head is None:
        return []
    found: list[Found] = []
    recipient: str | None = None
    indent = 0
    lines: list[str] = []
    for line in text[head.end():].split("\n")[1:]:
        entry = _EXIM_ENTRY.match(line)
        if entry and (recipient is None or len(entry.group(1)) <= indent):
            if recipient:
                found.append(Found(recipient, "\n".join(lines)))
            recipient, indent, lines = entry.group(2), len(entry.group(1)), [entry.group(4)]
        elif recipient and line.strip() and (line[:1] in " \t"):
            lines.append(line.strip())
        elif recipient and line.strip():
            break
    if recipient:
        found.append(Found(recipient, "\n".join(lines)))
    return found


# --- Sendmail -------------------------------------------------------------------------------

_SENDMAIL_SECTION: Final = _re(
    r"^[ \t]*-{3,}[ \t]*The following addresses had (permanent fatal|transient non-fatal) "
    r"errors[ \t]*-{3,}[ \t]*$")
_SENDMAIL_NEXT: Final = _re(r"^[ \t]*-{3,}")
_SENDMAIL_ADDR: Final = re.compile(rf"^[ \t]*<?({ADDRESS})>?[ \t]*$", re.MULTILINE)
_TRANSCRIPT: Final = _re(r"^[ \t]*-{3,}[ \t]*Transcript of session follows[ \t]*-{3,}[ \t]*$")


def _sendmail_blocks(text: str) -> list[Found]:
    """Each address of the "permanent fatal" / "transient non-fatal" sections, with its
    ``(reason: ...)`` lines and the transcript lines that name it (or all of them)."""
    transcript = ""
    head = _TRANSCRIPT.search(text)
    if head:
        after = _SENDMAIL_NEXT.search(text, head.end())
        transcript = text[head.end():after.start() if after else len(text)]
    errors = [line.strip() for line in transcript.split("\n")
              if re.match(r"\s*(<<<\s*)?[45]\d\d[ -]", line)]
    found: list[Found] = []
    for section in _SENDMAIL_SECTION.finditer(text):
        delayed = section.group(1).lower().startswith("transient")
        after = _SENDMAIL_NEXT.search(text, section.end())
        body = text[section.end():after.start() if after else len(text)]
        entries = list(_SENDMAIL_ADDR.finditer(body))
        for i, entry in enumerate(entries):
            reason = body[entry.end():entries[i + 1].start() if i + 1 < len(entries) else None]
            address = entry.group(1)
            own = [e for e in errors if address.lower() in e.lower()] or errors
            found.append(Found(address, (reason.strip() + "\n" + "\n".join(own)).strip(),
                               delayed))
    return found


# --- Exchange, Office 365, Outlook.com ------------------------------------------------------

_EXCHANGE_LISTS: Final = _re(
    r"(Delivery has (failed|been delayed) to these recipients or (groups|distribution lists):|"
    r"The following recipient\(s\) (cannot|could not) be reached:|"
    r"Delivery to the following recipients? (failed|has been delayed)\.?[ \t]*$|"
    r"The following recipients did not receive this message:|"
    r"(could not|couldn't) be delivered to the following recipients?:|"
    r"Diagnostic information for administrators:)")
_EXCHANGE_LINE: Final = re.compile(
    rf"^[ \t]*(?:[^<>()\n]{{0,80}}[(<])?({ADDRESS})(?:[)>])?(?:[ \t]*<mailto:[^>]*>)?"
    rf"(?:[ \t]+on[ \t]+[^\n]*)?[ \t]*$", re.MULTILINE)
_YOUR_MESSAGE_TO: Final = _re(rf"Your message to\s+<?({ADDRESS})>?\s+(couldn't|could not)"
                              rf" be delivered")


def _exchange_blocks(text: str) -> list[Found]:
    """Address lines in the recipient lists and the administrators' section, each with the
    lines up to the next address line; one recipient's texts are joined."""
    texts: dict[str, list[str]] = {}
    delayed: bool | None = None
    for head in _EXCHANGE_LISTS.finditer(text):
        if "delayed" in head.group(1).lower():
            delayed = True
        following = _EXCHANGE_LISTS.search(text, head.end())
        section = text[head.end():following.start() if following else len(text)]
        lines = list(_EXCHANGE_LINE.finditer(section))
        for i, line in enumerate(lines):
            body = section[line.end():lines[i + 1].start() if i + 1 < len(lines) else None]
            texts.setdefault(line.group(1).lower(), [line.group(1)]).append(body.strip())
    for sentence in _YOUR_MESSAGE_TO.finditer(text):
        texts.setdefault(sentence.group(1).lower(), [sentence.group(1)]).append(
            _paragraph_after(text, sentence.end()).strip())
    return [Found(parts[0], "\n".join(p for p in parts[1:] if p), delayed)
            for parts in texts.values()]


# --- Gmail ----------------------------------------------------------------------------------

_GMAIL_TO: Final = _re(
    rf"(?:wasn't|was not) delivered to\s+<?({ADDRESS})>?|"
    rf"problem delivering your message to\s+<?({ADDRESS})>?|"
    rf"Delivery to the following recipients? (?:failed permanently|has been delayed|failed)"
    rf"[ \t]*:[ \t]*\n(?:[ \t]*\n)?[ \t]*<?({ADDRESS})>?")
_GMAIL_RESPONSE: Final = _re(r"(The response (?:from the remote server )?was|"
                             r"The error that the other server returned was|"
                             r"Technical details of (?:permanent|temporary) failure)[ \t]*:?[ \t]*\n")


def _gmail_blocks(text: str) -> list[Found]:
    """The recipient of a Gmail notice and the remote server's response."""
    response = _GMAIL_RESPONSE.search(text)
    detail = text[response.end():].strip() if response else ""
    found: dict[str, Found] = {}
    for match in _GMAIL_TO.finditer(text):
        address = next(group for group in match.groups() if group)
        said = match.group(0).lower()
        delayed = "temporary problem" in said or "delayed" in said
        headline = _paragraph_after(text, match.start())
        found.setdefault(address.lower(), Found(address, (headline + "\n" + detail).strip(),
                                                True if delayed else None))
    return list(found.values())


# --- Amazon SES -----------------------------------------------------------------------------

_SES_LIST: Final = _re(r"An error occurred while trying to deliver the mail to the following "
                       r"recipients:[ \t]*\n")


def _ses_blocks(text: str) -> list[Found]:
    """The address lines after SES's sentence, the rest of the notice as their text."""
    head = _SES_LIST.search(text)
    if head is None:
        return []
    block = _paragraph_after(text, head.end())
    return [Found(match.group(0), text[head.end():].strip()) for match in _ADDR.finditer(block)]


FORMATS: Final[tuple[TextFormat, ...]] = (
    TextFormat("qmail", _re(r"This is the qmail-send program|I'm afraid I wasn't able to "
                            r"deliver your message|Sorry, we were unable to deliver your "
                            r"message to the following address|I'm not going to try again; "
                            r"this message has been in the queue too long|"
                            r"This is a permanent error; I've given up"),
               None, _angle_blocks),
    TextFormat("postfix", _re(r"This is the mail system at host|I'm sorry to have to inform "
                              r"you that your message could not|THIS IS A WARNING ONLY\."),
               _re(r"^[ \t]*The mail system[ \t]*$"), _angle_blocks),
    TextFormat("courier", _re(r"running the Courier mail server|Your message to the following "
                              r"recipients (cannot be delivered|has been delayed)"),
               _re(r"UNDELIVERABLE MAIL|DELAYED MAIL"), _angle_blocks),
    TextFormat("exim", _re(r"This message was created automatically by mail delivery software|"
                           r"The following address\(es\) failed|has not yet been delivered to "
                           r"one or more of its\s+recipients"),
               _re(r"following addresses failed|could not be delivered to one or more of its"
                   r"\s+recipients"), _exim_blocks),
    TextFormat("sendmail", _re(r"The following addresses had (permanent fatal|transient "
                               r"non-fatal) errors"),
               _re(r"Transcript of session follows|The original message was received at"),
               _sendmail_blocks),
    TextFormat("exchange", _re(r"Delivery has (failed|been delayed) to these recipients or "
                               r"(groups|distribution lists)|The following recipient\(s\) (cannot|could not) be "
                               r"reached|Your message did not reach some or all of the intended "
                               r"recipients|Diagnostic information for administrators"),
               _re(r"Your message to .{1,120} (couldn't|could not) be delivered|"
                   r"Remote Server returned|could not be delivered to the following|"
                   r"Delivery to the following recipients? failed\.?[ \t]*$|"
                   r"The following recipients did not receive this message"),
               _exchange_blocks),
    TextFormat("gmail", _re(r"Delivery to the following recipients? (failed permanently|has "
                            r"been delayed)|Technical details of (permanent|temporary) failure|"
                            r"The response from the remote server was:|Google tried to "
                            r"deliver your message"),
               _re(r"\*\* (Address not found|Message not delivered|Message blocked|"
                   r"Message not delivered yet|Delivery incomplete) \*\*|"
                   r"(wasn't|was not) delivered to|temporary problem delivering your message"),
               _gmail_blocks),
    TextFormat("ses", _re(r"An error occurred while trying to deliver the mail to the "
                          r"following recipients"), None, _ses_blocks),
)
"""The formats, in the order they are tried."""
