"""Session-scoped real broker; per-test projects (unique topics and group ids) and receivers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.broker import session_broker
from tests.support.processes import Project
from tests.support.receiver import Receiver


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with session_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def project_factory(kafka_bootstrap: str, tmp_path: Path,
                    receiver: Receiver) -> Iterator[Callable[..., Project]]:
    """Projects whose processes the receiver watches: a crash fails the wait at once."""
    made: list[Project] = []

    def make(**overrides: Any) -> Project:
        project = Project(kafka_bootstrap, tmp_path / f"p{len(made)}", overrides)
        project.create_topics()
        made.append(project)
        receiver.watchdogs.append(project.assert_alive)
        return project

    yield make
    for project in made:
        project.close()


