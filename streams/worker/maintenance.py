"""The direct-mode worker around a partition change (`partitions scale N`, :mod:`streams.ops.grow`).

A direct-mode worker follows ``fl.partitioning`` when the topic exists. When a partition change
enters ``stopping`` (the producers are paused and every event is enriched and committed by
then), the worker re-executes itself and, at start-up, waits until the change is ``done``
before it builds its Faust app. It then reads the partition count from ``fl.ref.profiles``
itself (not ``kafka.partitions``: the topics may have grown), and drops its local tables when
they were built for another count (a marker file in the data dir); they are rebuilt from the
recreated changelog and the snapshots published again.
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from streams.config.settings import Config
from streams.kafka.clients import confluent_config
from streams.kafka.partitioning import ControlView
from streams.kafka.topics import Topics
from streams.worker.reexec import restart_in_place
from streams.worker.sources import Sources

__all__ = ["direct_sources"]

log = logging.getLogger(__name__)

MARKER = "partitions"


def direct_sources(config: Config, topics: Topics) -> tuple[Sources, ControlView | None]:
    """Direct mode's sources once no partition change is in progress, with the topics' own
    count; the control view (None without ``fl.partitioning``), followed by a watcher."""
    admin = AdminClient(confluent_config(config.kafka))
    present = admin.list_topics(timeout=30).topics
    control = None
    if topics.partitioning in present:
        control = ControlView(config.kafka, topics.partitioning).start()
        _wait_out(control)
        threading.Thread(target=_watch, args=(control,), name="partitions-watcher",
                         daemon=True).start()
        present = admin.list_topics(timeout=30).topics
    profiles = present.get(topics.ref_profiles)
    partitions = len(profiles.partitions) if profiles is not None and profiles.partitions \
        else config.kafka.partitions
    _tables_for(Path(config.worker.data_dir), partitions)
    return Sources.direct(config, topics, partitions), control


def _wait_out(control: ControlView) -> None:
    said = 0.0
    while True:
        change = control.maintenance()
        if change is None or not change.in_progress:
            return
        if time.monotonic() - said > 10:
            log.warning("a partition change to %d is %s: waiting for it before enriching",
                        change.partitions, change.phase)
            said = time.monotonic()
        time.sleep(0.5)


def _watch(control: ControlView) -> None:
    while True:
        time.sleep(0.2)
        change = control.maintenance()
        if change is not None and change.in_progress:
            log.warning("partition change to %d: this worker stops and waits for it",
                        change.partitions)
            # everything read was committed before the change began (producers paused,
            # no lag): nothing is lost by not stopping Faust gracefully
            restart_in_place()


def _tables_for(data_dir: Path, partitions: int) -> None:
    """Drop local tables built for another partition count."""
    marker = data_dir / MARKER
    if marker.is_file() and marker.read_text().strip() != str(partitions):
        log.warning("local tables were built for %s partitions, the topics have %d: "
                    "rebuilding them from the changelog", marker.read_text().strip(), partitions)
        for child in data_dir.iterdir():
            if child.is_dir() and not (child.name.startswith("g") and child.name[1:].isdigit()):
                shutil.rmtree(child, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{partitions}\n")
