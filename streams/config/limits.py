"""The ``limits`` section: every size limit, in bytes, in one place (README "Size limits").

``check()`` raises :class:`~streams.errors.ConfigError` with ``"<key>: <problem>"``, as every
section does.
"""
from __future__ import annotations

from dataclasses import dataclass

from streams.errors import ConfigError

__all__ = ["BATCH_ITEM_ROOM_BYTES", "DELIVERY_ROOM_BYTES", "KEY_AND_HEADERS_ROOM_BYTES",
           "LimitsConfig"]

#: bytes a record needs besides its value: its key and our headers (reason, source, marks)
KEY_AND_HEADERS_ROOM_BYTES = 16_384
#: bytes a delivery record needs besides its payload: ids, times, and the attempts the sender
#: appends on every retry (eight attempts with their reasons fit many times over)
DELIVERY_ROOM_BYTES = 65_536
#: bytes a json-batch item needs besides its payload: its webhook_id, a comma, the brackets
BATCH_ITEM_ROOM_BYTES = 1_024


@dataclass(frozen=True)
class LimitsConfig:
    """Every size limit, in bytes, in one place (README "Size limits").

    Derived from Kafka's defaults: librdkafka's ``message.max.bytes`` (1,000,000, the smallest
    of the three defaults; the broker's and topics' ``max.message.bytes`` are 1,048,588 and
    aiokafka's ``max_request_size`` 1,048,576) is ``record_bytes``, and every other limit leaves
    room under it. Each is checked before Kafka would refuse a record: what is over a limit is
    parked in fl.invalid with the reason (a truncated copy when it is over ``record_bytes``),
    never dropped and never a crash.
    """

    #: the largest record any process produces (key + value + headers): our producers'
    #: message.max.bytes and Faust's max_request_size; the topics we create accept it
    #: (max.message.bytes = this + 48,588, Kafka's own margin). A record over it is parked in
    #: fl.invalid as a truncated copy with its coordinates.
    record_bytes: int = 1_000_000
    #: a raw event over it goes to fl.invalid (a truncated copy when over record_bytes)
    raw_event_bytes: int = 262_144
    #: a profile snapshot over it, or an edit that would make the profile larger, goes to
    #: fl.invalid; the profile table keeps what it had
    profile_bytes: int = 524_288
    #: a mailing's tags record over it is skipped (the mailing keeps its earlier tags)
    tags_bytes: int = 524_288
    #: an enriched payload (JSON) over it is delivered without its largest profile fields,
    #: named in its ``fields_omitted``
    payload_bytes: int = 900_000
    #: a json-batch body is closed before it would grow over this (under nginx's default
    #: client_max_body_size of 1 MiB)
    batch_body_bytes: int = 1_000_000
    #: the most of a receiver's answer read per call: the first KiB is kept for fl.attempts,
    #: the rest is read and dropped so the connection can be reused; a longer answer closes it
    response_bytes: int = 65_536
    #: a larger ESP report is refused by the CLI and the API, and sent to fl.invalid by the worker
    esp_report_bytes: int = 983_040

    def check(self) -> None:
        if not 65_536 <= self.record_bytes <= 100 * 2**20:
            raise ConfigError(f"record_bytes: must be 65536..104857600, got {self.record_bytes}")
        room = self.record_bytes - KEY_AND_HEADERS_ROOM_BYTES
        for name in ("raw_event_bytes", "profile_bytes", "tags_bytes", "esp_report_bytes"):
            value = getattr(self, name)
            if not 1024 <= value <= room:
                raise ConfigError(f"{name}: must be 1024..{room} (record_bytes - "
                                 f"{KEY_AND_HEADERS_ROOM_BYTES} for the key and headers), "
                                 f"got {value}")
        most = self.record_bytes - DELIVERY_ROOM_BYTES
        if not 4096 <= self.payload_bytes <= most:
            raise ConfigError(f"payload_bytes: must be 4096..{most} (record_bytes - "
                             f"{DELIVERY_ROOM_BYTES} for the delivery's ids and attempts), "
                             f"got {self.payload_bytes}")
        least = self.payload_bytes + BATCH_ITEM_ROOM_BYTES
        if self.batch_body_bytes < least:
            raise ConfigError(f"batch_body_bytes: must be at least payload_bytes + "
                             f"{BATCH_ITEM_ROOM_BYTES} ({least}) so every payload fits a batch, "
                             f"got {self.batch_body_bytes}")
        if not 2048 <= self.response_bytes <= 16 * 2**20:
            raise ConfigError(f"response_bytes: must be 2048..16777216, got {self.response_bytes}")

    @property
    def topic_max_message_bytes(self) -> int:
        """``max.message.bytes`` of the topics we create: ``record_bytes`` plus Kafka's own
        margin (its defaults are 1,000,000 for librdkafka and 1,048,588 for topics), so a
        batch our producers may build is never refused."""
        return self.record_bytes + 48_588
