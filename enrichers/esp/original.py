"""The returned original of a report: what it tells about the e-mail we sent.

A report returns the original as a ``message/rfc822`` or ``text/rfc822-headers`` part (read as
``Fields``), or quotes it in its text after a line such as "--- Below this line is a copy of the
message." (read here from the text). Either way we want its ``X-FL-Ref`` values (unchecked:
:func:`.refs.resolve_ref` checks them) and its Message-ID.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .mime import Fields, _message_id
from .refs import REF_HEADER

__all__ = ["Original", "from_fields", "from_text", "NONE"]

_REF_LINE: Final = re.compile(
    rf"^[ \t>]*{re.escape(REF_HEADER)}[ \t]*:[ \t]*(\S[^\n]*(?:\n[ \t]+\S[^\n]*)*)",
    re.IGNORECASE | re.MULTILINE)
_MESSAGE_ID: Final = re.compile(r"^[ \t>]*Message-ID[ \t]*:[ \t]*<?([^<>\s]+)>?",
                                re.IGNORECASE | re.MULTILINE)
_BLANK: Final = re.compile(r"\n[ \t>]*\n")


@dataclass(frozen=True, slots=True)
class Original:
    """What a report returned of the original: found at all, its references, its id."""

    found: bool
    ref_values: tuple[str, ...]
    message_id: str | None


NONE: Final = Original(False, (), None)


def from_fields(headers: Fields | None) -> Original:
    """The original returned as a part (``None``: no such part)."""
    if headers is None:
        return NONE
    return Original(True, headers.get(REF_HEADER.lower(), ()), _message_id(headers))


def from_text(text: str) -> Original:
    """An original quoted in ``text``: its ``X-FL-Ref`` lines (folding undone) and the
    Message-ID of the header block that holds the first of them, else the first Message-ID
    after the start of ``text``."""
    refs = tuple("".join(match.group(1).split()) for match in _REF_LINE.finditer(text))
    message_id = None
    if refs:
        first = _REF_LINE.search(text)
        assert first is not None
        start = max((m.end() for m in _BLANK.finditer(text, 0, first.start())), default=0)
        end_match = _BLANK.search(text, first.end())
        block = text[start:end_match.start() if end_match else len(text)]
        found = _MESSAGE_ID.search(block)
        message_id = found.group(1) if found else None
    if message_id is None:
        found = _MESSAGE_ID.search(text)
        message_id = found.group(1) if found else None
    return Original(bool(refs or message_id), refs, message_id)


def either(part: Original, quoted: Original) -> Original:
    """The attached original when it is there, else the quoted one."""
    if part.found and (part.ref_values or not quoted.ref_values):
        return part
    return quoted if quoted.found else part
