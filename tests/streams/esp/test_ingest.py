"""What ingestion accepts before a report reaches the worker: messages and JSON notifications."""
from __future__ import annotations

from pathlib import Path

from streams.esp.ingest import check_report, read_messages, reporting_domain

CORPUS = Path(__file__).resolve().parents[2] / "enrichers" / "esp_corpus"


def test_json_notifications_are_accepted_and_keyed_json() -> None:
    raw = (CORPUS / "json/ses-complaint.json").read_bytes()
    assert check_report(raw, 1_000_000) is None
    assert reporting_domain(raw) == "json"
    assert [name for name, _ in read_messages(CORPUS / "json/ses-complaint.json")] == [
        "ses-complaint.json"]


def test_messages_are_keyed_by_their_from_domain_and_junk_is_refused() -> None:
    raw = (CORPUS / "qmail/user-unknown.eml").read_bytes()
    assert check_report(raw, 1_000_000) is None and reporting_domain(raw) == "mail.example.net"
    problem = check_report(b"hello, this is not an e-mail", 1_000_000)
    assert problem is not None and "header block" in problem and "JSON" in problem
    assert check_report(b"  \n", 1_000_000) == "the message is empty"
    too_big = check_report(raw, 100)
    assert too_big is not None and "esp.max_report_bytes" in too_big
