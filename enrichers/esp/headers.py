"""The headers the platform puts into every message it sends, so that reports and one-click
unsubscribes come back to us mapped:

- ``X-FL-Ref``: the signed reference that reports return (:mod:`.refs`);
- ``List-Unsubscribe: <https://.../unsubscribe/u1....>`` and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058, which Gmail and Yahoo
  require of bulk senders since 2024): the URL holds a reference signed for unsubscribing only;
- ``Feedback-ID: <mailing>:<database>:<sender>``: Gmail's feedback loop reports complaint
  rates per value of each field (it sends no per-message reports), so a mailing or a database
  with many complaints shows up in Postmaster Tools. Colons and white space inside an id are
  replaced by ``-`` (the colon separates the fields); a missing mailing is left out.
"""
from __future__ import annotations

import re
from typing import Final

from .model import ProfileRef
from .refs import REF_HEADER, make_ref, make_unsubscribe_ref

__all__ = ["message_headers", "feedback_id", "unsubscribe_url"]

_UNSAFE: Final = re.compile(r"[:\s]+")
_MAX_FIELD: Final = 64


def feedback_id(ref: ProfileRef, sender: str) -> str:
    """The ``Feedback-ID`` value for a message sent for ``ref`` by ``sender`` (the stable
    sender id Gmail asks for as the last field)."""
    parts = [ref.mailing, ref.database, sender]
    return ":".join(_UNSAFE.sub("-", part.strip())[:_MAX_FIELD] for part in parts if part)


def unsubscribe_url(secret: bytes, ref: ProfileRef, base_url: str) -> str:
    """The one-click unsubscribe URL for ``ref`` under ``base_url`` (the public address of the
    API, ``https://...``)."""
    if not base_url.startswith(("https://", "http://")):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    return f"{base_url.rstrip('/')}/unsubscribe/{make_unsubscribe_ref(secret, ref)}"


def message_headers(secret: bytes, ref: ProfileRef, *, unsubscribe_base_url: str | None,
                    feedback_sender: str | None) -> dict[str, str]:
    """The headers for one message sent for ``ref``: ``X-FL-Ref`` always; the two
    List-Unsubscribe headers when ``unsubscribe_base_url`` is set; ``Feedback-ID`` when
    ``feedback_sender`` is set. ``secret`` is the current ``esp.ref_secret``."""
    headers = {REF_HEADER: make_ref(secret, ref)}
    if unsubscribe_base_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(secret, ref, unsubscribe_base_url)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if feedback_sender:
        headers["Feedback-ID"] = feedback_id(ref, feedback_sender)
    return headers
