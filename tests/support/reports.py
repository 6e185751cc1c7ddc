"""Figures a test measured (crash safety, isolation, failover), written where CI keeps them."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["report"]

REPORT_DIR = Path(os.environ.get("FLTEST_REPORT_DIR", "var/test-reports"))


def report(name: str, text: str) -> None:
    """Print ``text`` and write it to ``$FLTEST_REPORT_DIR/<name>.txt``."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{name}.txt").write_text(text + "\n")
    print(text)
