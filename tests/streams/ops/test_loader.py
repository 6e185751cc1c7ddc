"""`profiles load` / `tags load` (README "Command line"): bad lines are reported by number
and never written (no broker here: a file of only bad lines produces nothing)."""
from __future__ import annotations

from pathlib import Path

import orjson

from schemas.validation import parse_profile
from streams.config.settings import KafkaConfig
from streams.ops.loader import MAX_ERRORS_KEPT, load_jsonl


def test_bad_lines_are_reported_by_number_and_not_written(tmp_path: Path) -> None:
    lines = [b"", b"{not json", orjson.dumps({"id": "p1", "database": 7}), b"", b"[]"]
    path = tmp_path / "profiles.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = load_jsonl(KafkaConfig(bootstrap_servers="127.0.0.1:1"), "fl.ref.profiles",
                        str(path), parse_profile, show_progress=False)
    assert (report.loaded, report.rejected) == (0, 3)
    assert [e.split(":", 1)[0] for e in report.errors] == ["line 2", "line 3", "line 5"]
    assert all(e.split(":", 1)[1].strip() for e in report.errors), "each with its reason"


def test_only_the_first_errors_are_kept_but_every_one_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "profiles.jsonl"
    path.write_bytes(b"{}\n" * (MAX_ERRORS_KEPT + 5))
    report = load_jsonl(KafkaConfig(bootstrap_servers="127.0.0.1:1"), "fl.ref.profiles",
                        str(path), parse_profile, show_progress=False)
    assert report.rejected == MAX_ERRORS_KEPT + 5 and len(report.errors) == MAX_ERRORS_KEPT
