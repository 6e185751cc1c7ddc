"""The tags an event inherits from its mailing and, for clicks, from the clicked link."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["tags_for"]


def tags_for(event: Mapping[str, Any], mailing_tags: Mapping[str, Any] | None) -> list[str]:
    """The tags of ``event``: its mailing's tags, then (clicks only) the clicked link's tags.

    ``mailing_tags`` is the ``tags.json`` record of the event's mailing, or ``None`` when unknown.
    The result is ``[]`` when it is unknown, when the event names no ``mailing``, or when the
    record is another mailing's (``id`` differs). The clicked link is ``links[event["link"]]``; a click without a
    known link id falls back to the link whose ``url`` equals the event's ``url``. Duplicates are
    dropped, first occurrence kept, order otherwise preserved.
    """
    mailing = event.get("mailing")
    if mailing_tags is None or mailing is None or mailing_tags.get("id") != mailing:
        return []
    tags: list[str] = list(mailing_tags.get("tags") or ())
    if event.get("type") == "click":
        link = _clicked_link(event, mailing_tags.get("links") or {})
        if link is not None:
            tags.extend(link.get("tags") or ())
    return list(dict.fromkeys(tags))


def _clicked_link(event: Mapping[str, Any],
                  links: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    link_id = event.get("link")
    if link_id is not None and link_id in links:
        return links[link_id]
    url = event.get("url")
    if url is None:
        return None
    # A producer that cannot resolve link ids still sends the original URL.
    return next((link for link in links.values() if link.get("url") == url), None)
