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
