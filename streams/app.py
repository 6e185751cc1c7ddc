"""The Faust application: settings from the configuration, topics, tables and agents."""
from __future__ import annotations

from pathlib import Path

import faust

from .clients import faust_broker_settings
from .settings import Config
from .topics import Topics

__all__ = ["build_app"]


def build_app(config: Config) -> faust.App:
    """A Faust app for ``config`` with every agent of the pipeline attached."""
    store = "rocksdb://" if config.worker.store == "rocksdb" else "memory://"
    datadir = Path(config.worker.data_dir).resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.worker.app_id,
        **faust_broker_settings(config.kafka),
        store=store,
        datadir=str(datadir),
        topic_partitions=config.kafka.partitions,
        topic_replication_factor=config.kafka.replication_factor,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Our own aiohttp API serves /metrics and the control plane; Faust's web server stays
        # off, and if someone turns it on it binds loopback, not 0.0.0.0.
        web_enabled=False,
        web_bind="127.0.0.1",
        web_port=config.api.port or 6066,
        autodiscover=False,
        producer_acks=-1,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
    )
    topics = Topics(config.kafka)
    from .slice import attach_slice

    attach_slice(app, config, topics)
    return app
