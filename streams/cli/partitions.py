"""``feedbackloops partitions``: scale the internal partitions of repartition mode.

``scale N`` writes a request to ``fl.partitioning`` and follows the workers' progress on a bar
until the new generation serves (``--no-wait`` returns at once). The work is done by the
workers' coordinator, so stopping this command stops nothing: ``status`` shows where it is,
``cancel`` stops it before its cut-over.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

import click

from streams.cli.context import connected_config, current_config

__all__ = ["partitions_group"]


@contextmanager
def _control() -> Iterator[Any]:
    """The ``fl.partitioning`` view, read up to date, stopped on the way out."""
    from streams.kafka.partitioning import ControlView
    from streams.kafka.topics import Topics

    config = connected_config()
    control = ControlView(config.kafka, Topics.for_config(config).partitioning).start()
    try:
        yield control
    finally:
        control.stop()


@click.group(name="partitions")
def partitions_group() -> None:
    """Scale the pipeline's own partitions (worker.partitioning: repartition).

    A new generation of the internal topics is built while the current one serves, then the
    stream is cut over to it; see docs/operations.md, "Scaling partitions".
    """


@partitions_group.command(name="scale")
@click.argument("count", type=int)
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the progress until the new generation serves.")
@click.option("--timeout", "timeout_s", type=float, default=None, metavar="SECONDS",
              help="Stop following after this long (the scale goes on).")
@click.option("--quiet", "quiet_s", type=float, default=10.0, show_default=True,
              metavar="SECONDS", help="Direct mode: how long nothing new must arrive before "
                                      "the producers count as paused.")
def scale(count: int, wait: bool, timeout_s: float | None, quiet_s: float) -> None:
    """Move the enrich stage to COUNT partitions (more or fewer), online.

    In direct mode (the raw topics are the partitioning) this grows the raw topics,
    fl.ref.profiles, fl.deliveries and the retry tiers instead, with the workers stopped:
    it asks you to pause the producers and does every other step of the runbook itself.
    """
    from streams.ops.scaling import ask_scale, wait_handled

    with _control() as control:
        if current_config().worker.partitioning == "direct":
            from streams.ops.grow import grow_direct

            grown = grow_direct(current_config(), control, count, click.echo, quiet_s,
                                timeout_s or 3600.0)
            click.echo(json.dumps(grown))
            return
        request = ask_scale(control, count)
        click.echo(f"scale to {count} partitions requested ({request.id})")
        if not wait:
            return
        with click.progressbar(length=1000, label="scaling", show_eta=False,
                               item_show_func=lambda phase: phase) as bar:
            done = [0]

            def show(state: Any) -> None:
                nxt = state.next if state is not None else None
                if nxt is None or nxt.request_id != request.id:
                    return
                target = int(nxt.progress * 1000)
                bar.update(max(0, target - done[0]), nxt.phase)
                done[0] = max(done[0], target)

            outcome = wait_handled(control, request.id, timeout_s, show)
            if outcome is not None and outcome.get("outcome") == "done":
                bar.update(1000 - done[0], "done")
        if outcome is None:
            click.echo("still running; `feedbackloops partitions status` shows where it is")
            return
        click.echo(json.dumps(outcome))
        if outcome.get("outcome") != "done":
            raise SystemExit(1)


@partitions_group.command(name="status")
def status() -> None:
    """Print the serving generation, a running scale and the last outcome (JSON)."""
    from streams.ops.scaling import describe

    with _control() as control:
        click.echo(json.dumps(describe(control.state()), indent=2))


@partitions_group.command(name="cancel")
def cancel() -> None:
    """Cancel the running scale (only before its cut-over)."""
    from streams.ops.scaling import ask_cancel, wait_handled

    with _control() as control:
        request = ask_cancel(control)
        outcome = wait_handled(control, request.id, 60)
        click.echo(json.dumps(outcome or {"request": request.id, "outcome": "cancel requested"}))
