"""Docs that must not drift from the code."""
from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from streams.metrics import PipelineMetrics

ROOT = Path(__file__).resolve().parents[1]


def test_every_metric_is_documented() -> None:
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    doc = (ROOT / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^`(fl_[a-z_]+)`", doc, re.M))
    assert names == documented


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def _readme_headings() -> dict[str, int]:
    """Every heading of README.md outside code blocks: text -> level (1 for ``#``)."""
    headings: dict[str, int] = {}
    fenced = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (found := re.match(r"(#{1,6}) (.+?)\s*$", line)):
            headings[found.group(2)] = len(found.group(1))
    return headings


def _defines(path: Path, name: str) -> bool:
    """Whether ``path`` defines test ``name``: ``test_x`` at module level or ``Class::test_x``."""
    import ast

    body: list[ast.stmt] = ast.parse(path.read_text()).body
    *classes, function = name.split("::")
    for cls in classes:
        found = [n for n in body if isinstance(n, ast.ClassDef) and n.name == cls]
        if not found:
            return False
        body = found[0].body
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function
               for n in body)


def test_every_promise_names_tests_that_exist() -> None:
    """docs/promises.md maps README promises to tests; it must not drift from either side.

    - Each table row (``| n | Section | Promise | Tests |``) names at least one test, and every
      ``tests/<path>.py::<name>`` in it exists: the file is there and defines that function
      (``Class::test`` for a method). Renaming or deleting a test fails here.
    - The rule for sections: every README heading of level 2 or 3 (``##``/``###``, outside code
      blocks) is the Section of at least one row, or is listed (as the text before the first
      colon of a bullet) under "## Sections without promises" with a reason. Both the Section
      column and that list must name headings that exist (levels 1 to 3), so renaming a README
      heading, or adding one, fails until docs/promises.md follows. Sections are compared by
      their exact text: robust to reordering and to new promises inside a section, strict
      about what a section is called.
    """
    doc = (ROOT / "docs" / "promises.md").read_text()
    headings = _readme_headings()
    known = {text for text, level in headings.items() if level <= 3}
    rows = [line for line in doc.splitlines() if re.match(r"\|\s*\d+\s*\|", line)]
    assert len(rows) >= 100, "the promise table is missing or was cut"
    covered: set[str] = set()
    missing: list[str] = []
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 4, row
        number, section, _promise, tests = cells
        assert section in known, f"row {number}: {section!r} is not a README heading"
        covered.add(section)
        named = re.findall(r"`(tests/[\w/]+\.py)::([\w:]+)`", tests)
        assert named, f"row {number} names no test"
        for path, name in named:
            file = ROOT / path
            if not file.is_file() or not _defines(file, name):
                missing.append(f"row {number}: {path}::{name}")
    assert missing == [], "tests named in docs/promises.md that do not exist"
    exempt_part = doc.split("## Sections without promises", 1)[1].split("\n## ", 1)[0]
    exempt = {m.strip() for m in re.findall(r"^- ([^:\n]+):", exempt_part, re.M)}
    assert exempt <= known, f"not README headings: {exempt - known}"
    required = {text for text, level in headings.items() if level in (2, 3)}
    assert required - covered - exempt == set(), "README sections missing from docs/promises.md"


def test_the_defaults_the_readme_states_are_the_codes() -> None:
    """The numbers README states as defaults (loop settings, retries, breaker, rotation
    grace, size limits) are the ones the code uses."""
    from schemas.loop import DEFAULTS, limit
    from streams.api.inputs import parse_rotate
    from streams.config.limits import LimitsConfig
    from streams.config.settings import SenderConfig

    assert (DEFAULTS["encoding"], DEFAULTS["rate_per_s"], DEFAULTS["max_in_flight"],
            DEFAULTS["timeout_s"], DEFAULTS["batch"]) == (
        "json", 50, 10, 10, {"max_events": 100, "max_wait_ms": 1000})
    assert limit("timeout_s", "maximum") == 120
    assert (DEFAULTS["delivery"], DEFAULTS["summary_every"]) == ("events", "1h")
    sender = SenderConfig()
    assert sender.retry_schedule_s == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert (sender.retry_jitter, sender.max_retry_after_s) == (0.2, 10 * 3600)
    assert sender.breaker_failures == 5
    assert parse_rotate({})[0] == 86400
    assert LimitsConfig() == LimitsConfig(
        record_bytes=1_000_000, raw_event_bytes=262_144, profile_bytes=524_288,
        tags_bytes=524_288, payload_bytes=900_000, batch_body_bytes=1_000_000,
        response_bytes=65_536, esp_report_bytes=983_040)
