"""Spam complaints (ARF, Microsoft JMRP) and bounces (DSN, plain-text, JSON) from mail systems
and mailbox providers, as data: parsed and classified first, mapped to profiles second.

Every e-mail the platform sends carries a signed ``X-FL-Ref`` header (``make_ref``) naming the
database, profile, mailing, collection and subprofile it was sent for. Reports that come back
return the original message, or just its headers, and with it that header.

``parse_report`` turns one received message into ``Complaint`` and ``Bounce`` values (each
bounce with a ``bounce_class`` and ``reason`` from :mod:`.taxonomy`); ``resolve_ref`` maps a
finding to a ``ProfileRef`` through its ``X-FL-Ref``, or says why it cannot. A message that
holds no report raises ``EspReportError``. ``message_headers`` gives the platform the headers
to put into every message (``X-FL-Ref``, RFC 8058 one-click unsubscribe, ``Feedback-ID``).

- :mod:`.refs`: ``REF_HEADER``, ``make_ref``, ``read_ref``, ``resolve_ref`` and the
  unsubscribe references;
- :mod:`.model`: ``EspReportError``, ``ProfileRef`` and the results;
- :mod:`.reports`: ``parse_report``, what is recognised in which order;
- :mod:`.arf`, :mod:`.dsn`, :mod:`.textbounce` (+ :mod:`.textformats`, :mod:`.notice`),
  :mod:`.jsonreports`: the readers per family; :mod:`.fieldblocks`: lenient report fields;
  :mod:`.original`: the returned original;
- :mod:`.taxonomy` and :mod:`.status`: hard/soft and the reason, as a rule table;
- :mod:`.parts` and :mod:`.mime`: finding parts and reading messages leniently;
- :mod:`.headers`: the outgoing headers.

Pure: no I/O, no Kafka; standard library and orjson only.
"""
from __future__ import annotations

from .headers import feedback_id, message_headers
from .model import Bounce, Complaint, EspReportError, ParsedReport, ProfileRef
from .refs import (REF_HEADER, make_ref, make_unsubscribe_ref, read_ref, read_unsubscribe_ref,
                   resolve_ref)
from .reports import parse_report
from .taxonomy import DEFAULT_RULES, REASONS, BounceRules

__all__ = [
    "REF_HEADER",
    "EspReportError",
    "ProfileRef",
    "make_ref",
    "read_ref",
    "resolve_ref",
    "make_unsubscribe_ref",
    "read_unsubscribe_ref",
    "Complaint",
    "Bounce",
    "ParsedReport",
    "parse_report",
    "BounceRules",
    "DEFAULT_RULES",
    "REASONS",
    "message_headers",
    "feedback_id",
]
