"""The hand-written corpus (``esp_corpus/``): every message read as labelled, and the floors the
issue sets for real mail (bounce found >= 95 %, hard/soft agreement >= 90 %, no bounce or
complaint read from an auto-reply or other non-report, no exception)."""
from __future__ import annotations

import random

import pytest

from enrichers.esp import EspReportError, ParsedReport, parse_report

from .esp_corpus_measure import CORPUS, Figures, _score, labels, measure, parses_or_refuses

NAMES = sorted(labels())


def test_the_corpus_covers_every_family() -> None:
    families = {name.split("/")[0] for name in NAMES}
    assert {"dsn", "qmail", "yahoo", "postfix", "exim", "sendmail", "courier", "exchange",
            "gmail", "ses", "json", "generic", "arf", "jmrp", "negative", "blind"} <= families
    kinds = [labels()[name]["kind"] for name in NAMES]
    assert kinds.count("none") >= 20 and kinds.count("bounce") >= 60


def test_floors() -> None:
    figures = measure()
    print(figures.summary())
    assert figures.exceptions == []
    assert figures.bounces_found >= 0.95 * figures.bounces_expected, figures.misses
    assert figures.class_agree >= 0.90 * figures.bounces_expected, figures.misses
    assert (figures.false_bounces, figures.false_complaints) == (0, 0), figures.misses
    assert figures.complaints_found == figures.complaints_expected, figures.misses
    assert figures.refs_mapped >= 0.95 * figures.refs_expected, figures.misses


@pytest.mark.parametrize("name", NAMES)
def test_each_message_reads_as_labelled(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    try:
        report: ParsedReport | None = parse_report(raw)
    except EspReportError:
        report = None
    figures = Figures()
    _score(figures, name, labels()[name], report)
    assert figures.misses == []


def test_damaged_corpus_messages_raise_nothing_but_esp_report_error() -> None:
    """Every corpus message truncated and byte-flipped at random (seeded): a ParsedReport or
    an EspReportError, never another exception."""
    rng = random.Random(3464)
    for name in NAMES:
        parses_or_refuses((CORPUS / name).read_bytes(), rng, variants=8, flips=10)
