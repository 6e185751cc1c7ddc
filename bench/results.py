"""The shape of one scenario's result (what the table shows and the JSON file holds)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .measure import Delivered, Timeline

__all__ = ["ScenarioResult", "Target"]


@dataclass
class Target:
    """A target from the issue: ``value`` compared with ``limit`` (``>=`` or ``<=``)."""

    name: str
    limit: float
    op: str
    value: float
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if math.isnan(self.value):
            return None
        return self.value >= self.limit if self.op == ">=" else self.value <= self.limit

    def describe(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "no value"}[self.met]
        return (f"{self.name}: {self.value:,.2f}{self.unit} (target {self.op} {self.limit:,.2f}"
                f"{self.unit}) -> {verdict}{'; ' + self.note if self.note else ''}")


@dataclass
class ScenarioResult:
    """One scenario: throughput, latency, cost, completeness, ceilings, targets."""

    name: str
    title: str
    receiver: str
    events: int
    deliveries: int
    workers: int
    senders: int
    partitions: int
    in_flight: int
    #: headline rate: events (deliveries for sender/isolation) per s, from the first produce
    #: (cold scenarios: from process start) to the last receipt
    per_s: float = float("nan")
    #: from the first receipt to the last (start-up and first-event latency excluded)
    drain_per_s: float = float("nan")
    produce: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_s_per_10k: float = float("nan")
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    completeness: dict[str, int] = field(default_factory=dict)
    ceilings: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    timeline: Timeline | None = None

    def record_delivered(self, d: Delivered) -> None:
        self.latency_ms = {k: round(v * 1000, 1) for k, v in d.latency_s.items()}
        self.latency_ms["max"] = round(d.max_latency_s * 1000, 1)
        self.completeness = {"expected": d.expected, "received": d.received,
                             "missing": d.missing, "duplicates": d.duplicates,
                             "unknown": d.unknown}
        self.drain_per_s = d.drain_per_s
        self.timeline = d.timeline

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["targets"] = [{**asdict(t), "met": t.met} for t in self.targets]
        return doc
