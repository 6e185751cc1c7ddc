"""Status codes in bounce text: RFC 3463 enhanced status codes (``5.1.1``) and SMTP reply codes
(``550``), and the refinement of a generic status from the diagnostic.

Decisions:

- An enhanced code is three dot-separated numbers starting with 2, 4 or 5, not part of a longer
  dotted number: ``10.4.2.5`` (an IP address) holds none.
- A reply code is a 2xx/4xx/5xx number at the start of the text or after a word such as
  "said:" or a quote, followed by a space, a dash or the end: ``550-5.1.1`` gives 550.
- A ``Status:`` that is generic (``x.0.0``, or ``x.4.7`` "delivery time expired", which hides
  the last attempt's cause) gives way to a specific code in the diagnostic: ``Status: 5.0.0``
  with ``Diagnostic-Code: smtp; 550 5.1.1 user unknown`` is ``5.1.1``.
"""
from __future__ import annotations

import re
from typing import Final, Literal

__all__ = ["enhanced_status", "reply_code", "refined_status"]

_ENHANCED: Final = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
_REPLY: Final = re.compile(
    r"(?:^|[\s'\"(\[:;=#])([245][0-5]\d)(?=[ \t-]|$|[)\]'\"])", re.MULTILINE)
_GENERIC: Final = re.compile(r"[245]\.0\.0|[45]\.4\.7")

StatusSource = Literal["status", "diagnostic", "text"]


def enhanced_status(text: str | None) -> str | None:
    """The first enhanced status code in ``text`` (``"5.1.1"``), ``None`` without one."""
    if not text:
        return None
    found = _ENHANCED.search(text)
    return ".".join(found.groups()) if found else None


def _specific_status(text: str | None) -> str | None:
    """The first enhanced status code in ``text`` that is not generic."""
    for found in _ENHANCED.finditer(text or ""):
        status = ".".join(found.groups())
        if not _GENERIC.fullmatch(status):
            return status
    return None


def reply_code(text: str | None) -> int | None:
    """The first SMTP reply code in ``text`` (``550``), ``None`` without one."""
    if not text:
        return None
    found = _REPLY.search(text)
    return int(found.group(1)) if found else None


def refined_status(status_field: str | None,
                   diagnostic: str | None) -> tuple[str | None, StatusSource | None]:
    """The status of a bounce and where it came from: the ``Status:`` field's code unless it
    is missing or generic and the diagnostic names a specific one."""
    status = enhanced_status(status_field)
    if status is not None and not _GENERIC.fullmatch(status):
        return status, "status"
    specific = _specific_status(diagnostic)
    if specific is not None:
        return specific, "diagnostic"
    if status is not None:
        return status, "status"
    fallback = enhanced_status(diagnostic)
    return (fallback, "diagnostic") if fallback else (None, None)
