"""Measure ``parse_report`` on the hand-written corpus in ``esp_corpus/`` against its labels.

``python -m tests.enrichers.esp_corpus_measure`` prints the figures and every disagreement;
``tests/enrichers/test_esp_corpus.py`` asserts the floors. The corpus and its labels are ours:
written from each format's documentation and observed structure (see ``esp_corpus/README.md``).
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enrichers.esp import EspReportError, ParsedReport, ProfileRef, parse_report, resolve_ref

CORPUS = Path(__file__).parent / "esp_corpus"
SECRET = b"esp-corpus-secret-2026"


@dataclass
class Figures:
    """What a run over the corpus found (counts; rates are derived)."""

    bounces_expected: int = 0
    bounces_found: int = 0
    class_agree: int = 0
    reason_agree: int = 0
    action_agree: int = 0
    complaints_expected: int = 0
    complaints_found: int = 0
    negatives: int = 0
    false_bounces: int = 0
    false_complaints: int = 0
    refs_expected: int = 0
    refs_mapped: int = 0
    exceptions: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def rate(self, part: int, whole: int) -> float:
        return part / whole if whole else 1.0

    def summary(self) -> str:
        return (f"bounces found {self.bounces_found}/{self.bounces_expected} "
                f"({self.rate(self.bounces_found, self.bounces_expected):.1%}), "
                f"hard/soft agree {self.class_agree}/{self.bounces_expected} "
                f"({self.rate(self.class_agree, self.bounces_expected):.1%}), "
                f"reason agree {self.reason_agree}/{self.bounces_expected} "
                f"({self.rate(self.reason_agree, self.bounces_expected):.1%}), "
                f"action agree {self.action_agree}/{self.bounces_expected}, "
                f"complaints {self.complaints_found}/{self.complaints_expected}, "
                f"refs mapped {self.refs_mapped}/{self.refs_expected}, "
                f"negatives {self.negatives} with {self.false_bounces} bounces and "
                f"{self.false_complaints} complaints, exceptions {len(self.exceptions)}")


def parses_or_refuses(sample: bytes, rng: random.Random, variants: int, flips: int) -> None:
    """``variants`` copies of ``sample``, each truncated at random with up to ``flips`` bytes
    changed, parse to a ``ParsedReport`` or raise ``EspReportError`` (nothing else)."""
    for _ in range(variants):
        damaged = bytearray(sample[:rng.randrange(len(sample) + 1)])
        for _ in range(rng.randrange(flips)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            assert isinstance(parse_report(bytes(damaged)), ParsedReport)
        except EspReportError:
            pass


def labels() -> dict[str, dict[str, Any]]:
    return dict(json.loads((CORPUS / "labels.json").read_text("utf-8")))


def measure(parse: Callable[[bytes], ParsedReport] = parse_report) -> Figures:
    """Run ``parse`` over every labelled message and count agreements."""
    figures = Figures()
    for name, label in sorted(labels().items()):
        raw = (CORPUS / name).read_bytes()
        try:
            report: ParsedReport | None = parse(raw)
        except EspReportError:
            report = None
        except Exception as exc:  # counted: the parser must raise nothing else
            figures.exceptions.append(f"{name}: {type(exc).__name__}: {exc}")
            report = None
        _score(figures, name, label, report)
    return figures


def _score(figures: Figures, name: str, label: dict[str, Any],
           report: ParsedReport | None) -> None:
    bounces = report.bounces if report else ()
    complaints = report.complaints if report else ()
    if label["kind"] == "none":
        figures.negatives += 1
        figures.false_bounces += len(bounces)
        figures.false_complaints += len(complaints)
        if bounces or complaints:
            figures.misses.append(f"{name}: read {len(bounces)} bounce(s), "
                                  f"{len(complaints)} complaint(s) from a non-report")
        return
    findings = list(bounces) + list(complaints)
    if label.get("ref"):
        figures.refs_expected += 1
        expected = ProfileRef("newsletter", profile=label["ref"], mailing="m-2026-11")
        if findings and all(resolve_ref(f, SECRET)[0] == expected for f in findings):
            figures.refs_mapped += 1
        else:
            figures.misses.append(f"{name}: reference not mapped "
                                  f"{[resolve_ref(f, SECRET) for f in findings]}")
    by_recipient = {(b.recipient or "").lower(): b for b in bounces}
    for want in label.get("bounces", ()):
        figures.bounces_expected += 1
        got = by_recipient.get(want["recipient"].lower())
        if got is None:
            figures.misses.append(f"{name}: bounce for {want['recipient']} not found "
                                  f"(found {sorted(by_recipient)})")
            continue
        figures.bounces_found += 1
        figures.class_agree += got.bounce_class == want["class"]
        figures.reason_agree += got.reason == want["reason"]
        figures.action_agree += got.action == want["action"]
        if (got.bounce_class, got.reason, got.action) != (want["class"], want["reason"],
                                                          want["action"]):
            figures.misses.append(
                f"{name}: {want['recipient']} read as {got.action}/{got.bounce_class}/"
                f"{got.reason} (status {got.status}), expected {want['action']}/"
                f"{want['class']}/{want['reason']}; diagnostic {got.diagnostic!r:.160}")
    wanted = [(c["recipient"], c["feedback_type"]) for c in label.get("complaints", ())]
    got_complaints = [(c.recipient, c.feedback_type) for c in complaints]
    figures.complaints_expected += len(wanted)
    figures.complaints_found += sum(1 for item in wanted if item in got_complaints)
    if sorted(map(str, wanted)) != sorted(map(str, got_complaints)):
        figures.misses.append(f"{name}: complaints {got_complaints}, expected {wanted}")


if __name__ == "__main__":
    result = measure()
    for line in result.misses + result.exceptions:
        print(line)
    print(result.summary())
