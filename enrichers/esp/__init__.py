"""Spam complaints (ARF, Microsoft JMRP) and bounces (DSN) from mailbox providers, as data.

Every e-mail the platform sends carries a signed ``X-FL-Ref`` header (``make_ref``) naming the
database, profile, mailing, collection and subprofile it was sent for. Reports that come back
return the original message, or just its headers, and with it that header: ``read_ref`` maps a
report to a profile even when the provider redacts the recipient's address.

``parse_report`` turns one received message (ARF, JMRP, DSN, or several of them in one) into
``Complaint`` and ``Bounce`` values; a message that holds no usable report raises
``EspReportError``.

- :mod:`.refs`: the ``X-FL-Ref`` header (``REF_HEADER``, ``make_ref``, ``read_ref``);
- :mod:`.model`: ``EspReportError``, ``ProfileRef`` and the results ``Complaint``, ``Bounce``,
  ``ParsedReport``;
- :mod:`.reports`: ``parse_report``, the ARF / JMRP / DSN reading (formats and decisions there);
- :mod:`.parts`: finding the report parts and attached messages in a message;
- :mod:`.mime`: lenient reading of e-mail messages, header blocks and field values.

Pure: no I/O, no Kafka; standard library and orjson only.
"""
from __future__ import annotations

from .model import Bounce, Complaint, EspReportError, ParsedReport, ProfileRef
from .refs import REF_HEADER, make_ref, read_ref
from .reports import parse_report

__all__ = [
    "REF_HEADER",
    "EspReportError",
    "ProfileRef",
    "make_ref",
    "read_ref",
    "Complaint",
    "Bounce",
    "ParsedReport",
    "parse_report",
]
