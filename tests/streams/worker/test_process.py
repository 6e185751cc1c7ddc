"""The worker process keeps the root logger at the level it is started with."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import pytest

from streams.config.loading import parse_config
from streams.worker.app import build_app


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("level", ["warn", "error"])
def test_a_quiet_worker_builds_no_debug_records(tmp_path: Path, level: str,
                                                restore_logging: None) -> None:
    # Faust's own Worker sets the root logger to DEBUG for its spinner at these levels: every
    # aiokafka log.debug (one per partition per fetch) then built a record nobody printed.
    app = build_app(parse_config({"worker": {"data_dir": str(tmp_path / "worker"),
                                             "store": "memory"}}))
    worker = app.Worker(loglevel=level, redirect_stdouts=False)
    worker._setup_logging()
    assert logging.getLogger().level == logging.getLevelName(level.upper())
    assert not logging.getLogger("aiokafka.consumer.fetcher").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("faust").isEnabledFor(logging.DEBUG)
