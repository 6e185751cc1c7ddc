"""ESP reports: any bytes, and real-looking reports broken at random, are parsed or refused
with ``EspReportError`` — nothing else escapes; a reference check refuses forgeries the same
way."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrichers.esp import (EspReportError, make_ref, make_unsubscribe_ref, parse_report, read_ref,
                           read_unsubscribe_ref)
from enrichers.esp.model import ProfileRef

from .conftest import TRIED

pytestmark = pytest.mark.fuzz

CORPUS = Path(__file__).resolve().parents[1] / "enrichers" / "esp_corpus"
MESSAGES = sorted(p.read_bytes() for p in CORPUS.rglob("*") if p.is_file()
                  and p.suffix in (".eml", ".txt", ".json", ""))
SECRET = b"fuzz-ref-secret-0123456789"


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A corpus message cut, with bytes flipped, inserted or a header line doubled."""
    raw = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["cut", "flip", "insert", "dup"]))
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        if action == "cut":
            del raw[at:]
        elif action == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[at:at] = draw(st.sampled_from([b"\r\n", b"\n\n", b"--", b"Content-Type: ",
                                               b"multipart/report; boundary=x", b"\x00", b"=?",
                                               b"Status: 5.", b"{\"", b"Action: "]))
        else:
            line_end = raw.find(b"\n", at)
            if line_end > at:
                raw[line_end:line_end] = b"\n" + raw[at:line_end]
    return bytes(raw)


def _parse(target: str, raw: bytes) -> None:
    TRIED[target] += 1
    try:
        parse_report(raw)
    except EspReportError as exc:
        assert str(exc)


@given(st.binary(max_size=2000))
def test_any_bytes(raw: bytes) -> None:
    _parse("ESP report: bytes", raw)


@given(damaged())
def test_damaged_reports(raw: bytes) -> None:
    _parse("ESP report: damaged corpus message", raw)


REF = make_ref(SECRET, ProfileRef("news", "p-1", "m-1"))
UNSUB = make_unsubscribe_ref(SECRET, ProfileRef("news", "p-1", "m-1"))


@given(st.one_of(st.text(max_size=200),
                 st.integers(0, len(REF) - 1).flatmap(
                     lambda i: st.characters().map(lambda c: REF[:i] + c + REF[i + 1:]))))
def test_forged_or_damaged_references(value: str) -> None:
    TRIED["X-FL-Ref / unsubscribe reference"] += 1
    for read, good in ((read_ref, REF), (read_unsubscribe_ref, UNSUB)):
        try:
            ref = read(value, SECRET)
        except EspReportError:
            continue
        # only the genuine reference (modulo the whitespace providers fold in) is accepted
        assert "".join(value.split()) == good and ref.profile == "p-1"
