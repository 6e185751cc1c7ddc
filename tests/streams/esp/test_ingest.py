"""What ingestion accepts before a report reaches the worker: messages and JSON notifications."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
    assert too_big is not None and "limits.esp_report_bytes" in too_big


def test_the_headers_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    from enrichers.esp import ProfileRef, make_ref, make_unsubscribe_ref

    config = tmp_path / "fl.yaml"
    config.write_text("esp:\n  ref_secret: cli-headers-secret-0123456789\n"
                      "  feedback_id_sender: shopfl\n"
                      "  unsubscribe: {base_url: 'https://fl.shop.example'}\n")
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-m", "streams", "--config", str(config), "esp",
                           "headers", "news", "--profile", "p1", "--mailing", "m1"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ref = ProfileRef("news", profile="p1", mailing="m1")
    secret = b"cli-headers-secret-0123456789"
    assert done.stdout.splitlines() == [
        f"X-FL-Ref: {make_ref(secret, ref)}",
        f"List-Unsubscribe: <https://fl.shop.example/unsubscribe/{make_unsubscribe_ref(secret, ref)}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Feedback-ID: m1:news:shopfl"]
    config.write_text("esp: {}\n")
    refused = subprocess.run([sys.executable, "-m", "streams", "--config", str(config), "esp",
                              "headers", "news"], cwd=root, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode != 0 and "esp.ref_secret is not configured" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_an_oversize_report_is_refused_with_413_naming_the_limit(tmp_path: Path) -> None:
    """README "Size limits": esp_report_bytes is refused by the API (413) and the CLI, with
    the limit named; nothing reaches Kafka (no broker here: nothing may be produced)."""
    from streams.config.settings import KafkaConfig
    from streams.esp.ingest import ReportRefused, api_ingest, publish_reports

    raw = (CORPUS / "qmail/user-unknown.eml").read_bytes()
    sent: list[bytes] = []

    class Output:
        def send(self, topic: str, key: bytes, value: bytes, on_done: Any) -> None:
            sent.append(value)
            on_done()

    ingest = api_ingest(Output(), "fl.esp.reports", len(raw) - 1)  # type: ignore[arg-type]
    with pytest.raises(ReportRefused) as refused:
        await ingest(raw)
    assert refused.value.status == 413 and "limits.esp_report_bytes" in refused.value.problem
    with pytest.raises(ReportRefused) as junk:
        await ingest(b"not a report")
    assert junk.value.status == 400
    assert sent == []
    assert (await api_ingest(Output(), "t", len(raw))(raw))["bytes"] == len(raw)  # type: ignore[arg-type]
    assert sent == [raw]

    (tmp_path / "big.eml").write_bytes(raw)
    report = publish_reports(KafkaConfig(bootstrap_servers="127.0.0.1:1"), "fl.esp.reports",
                             [str(tmp_path)], len(raw) - 1)
    assert (report.sent, report.refused) == (0, 1)
    assert report.errors[0].startswith("big.eml: ") and "limits.esp_report_bytes" in report.errors[0]
