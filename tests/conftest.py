"""Session-scoped real broker; per-test projects (unique topics and group ids) and receivers;
a module-scoped 3-node cluster for the failover tests (``kafka_cluster``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.broker import session_broker
from tests.support.cluster import LocalCluster, kafka_cluster  # noqa: F401 (a fixture)
from tests.support.processes import Project, projects
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
    yield from projects(kafka_bootstrap, tmp_path, receiver, {})


@pytest.fixture
def cluster_project_factory(kafka_cluster: LocalCluster, tmp_path: Path,
                            receiver: Receiver) -> Iterator[Callable[..., Project]]:
    """Projects on the 3-node cluster, their topics with 3 replicas (min.insync.replicas 2)."""
    yield from projects(kafka_cluster.bootstrap, tmp_path, receiver,
                        {"kafka": {"replication_factor": 3}})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests (full size, minutes each) run only when selected: ``make soak`` (-m soak)."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak") is not None]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if item.get_closest_marker("soak") is None]
