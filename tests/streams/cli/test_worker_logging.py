"""A worker logs from its first line: the re-key stage and the scaling coordinator start before
Faust sets logging up, and what they said then ("this worker coordinates partition scaling")
was lost (the kill test could not find the coordinator to kill)."""
from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from streams.cli import run
from streams.config.loading import parse_config


def test_a_repartition_worker_logs_before_faust_sets_logging_up(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_config({"worker": {"partitioning": "repartition", "event_loop": "asyncio"}})

    def generation_app(_config: Any) -> Any:  # what the coordinator says as it starts
        logging.getLogger("streams.ops.partitions").info("this worker coordinates partition "
                                                         "scaling")
        raise SystemExit(0)  # (Faust would take over here)

    monkeypatch.setattr("streams.worker.generation.generation_app", generation_app)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.raises(SystemExit):
            run._run_faust(config, ["worker", "-l", "info"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "this worker coordinates partition scaling" in capsys.readouterr().err
