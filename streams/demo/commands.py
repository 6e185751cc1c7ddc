"""``feedbackloops demo run|receiver|produce``."""
from __future__ import annotations

import asyncio
import os

import click

from streams.cli.context import connected_config, current_config

__all__ = ["demo_group"]


def demo_group() -> click.Group:
    @click.group(name="demo")
    def demo() -> None:
        """The demo behind `make run`: receiver, producer, and both with a worker."""

    @demo.command(name="run")
    @click.option("--receiver-port", default=8099, show_default=True)
    @click.option("--rate", default=2.0, show_default=True, help="events per second")
    @click.option("--manage-broker/--no-manage-broker", default=True, show_default=True,
                  help="start (and at the end stop) the local broker")
    def run(receiver_port: int, rate: float, manage_broker: bool) -> None:
        """Start Kafka, topics, worker, receiver and producer; Ctrl-C stops them all."""
        from streams.demo.supervisor import run_demo

        if not manage_broker:
            connected_config()
        else:
            current_config()  # a bad file stops here, before anything starts
        path = os.environ.get("FL_CONFIG") or "deploy/demo.yaml"
        raise SystemExit(run_demo(path, receiver_port, rate, manage_broker))

    @demo.command(name="receiver")
    @click.option("--port", default=8099, show_default=True)
    @click.option("--host", default="127.0.0.1", show_default=True)
    def receiver(port: int, host: str) -> None:
        """Run a receiver that prints one line per call."""
        from streams.demo.receiver import serve

        try:
            asyncio.run(serve(port, host))
        except KeyboardInterrupt:
            pass

    @demo.command(name="produce")
    @click.option("--rate", default=2.0, show_default=True, help="events per second")
    @click.option("--count", default=0, show_default=True, help="0 = until interrupted")
    @click.option("--profiles", default=20, show_default=True)
    def produce(rate: float, count: int, profiles: int) -> None:
        """Load demo profiles and tags, then emit opens and clicks."""
        from streams.demo.producer import produce_demo

        config = connected_config()
        secret = config.esp.ref_secret
        sent = produce_demo(config.kafka, rate, count, profiles,
                            secret.reveal().encode() if secret is not None else None)
        click.echo(f"[producer] sent {sent} events")

    @demo.command(name="replay")
    @click.option("--after-s", default=30.0, show_default=True,
                  help="start the replay this long after the first demo event")
    @click.option("--window-s", default=10.0, show_default=True,
                  help="replay this many seconds from the first demo event on")
    @click.option("--to", "loop_id", default="demo-opens-clicks", show_default=True)
    def replay(after_s: float, window_s: float, loop_id: str) -> None:
        """Once the demo runs, replay its first seconds to a loop (the receiver marks REPLAY)."""
        from streams.demo.producer import replay_demo_start

        replay_demo_start(connected_config(), after_s, window_s, loop_id)

    return demo
