"""``feedbackloops replay start|list|status|cancel`` and ``feedbackloops replayer``.

The same operations as ``/replays`` (:class:`streams.replay.operations.Replays`), run in this
process against Kafka: replays started here show in the API and the other way round, since
both only read and write ``fl.replays``. The loop is an argument (Faust claims ``--loop*``).
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, TypeVar

import click

from schemas.loop import Loop

from streams.api.inputs import InputError
from streams.cli.analysts import window_options
from streams.cli.context import connected_config
from streams.config.settings import Config
from streams.kafka.loopstore import parse_loop
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.replay.book import FINISHED, ReplayBook, ReplayNotFound
from streams.replay.operations import Replays

__all__ = ["replay_group", "replayer_command", "with_replays"]

T = TypeVar("T")


def with_replays(config: Config, action: Callable[[Replays], T]) -> T:
    """Run ``action`` with the replay operations of ``config``'s cluster; expected problems
    become one-line ClickExceptions."""
    topics = Topics.for_config(config)
    loops: CompactedView[Loop] = CompactedView(config.kafka, topics.loops, parse_loop)
    book = ReplayBook(config.kafka, topics.replays)
    try:
        loops.start(60)
        book.start(60)
        return action(Replays(config.kafka, topics, book, loops.get))
    except InputError as exc:
        raise click.ClickException(f"{exc.field}: {exc.problem}" if exc.field else exc.problem)
    except ReplayNotFound as exc:
        raise click.ClickException(f"no replay with id {exc.args[0]!r}") from None
    finally:
        book.stop()
        loops.stop()


def _echo(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _follow(replays: Replays, replay_id: str, quiet: bool = False) -> dict[str, Any]:
    """A live progress display until the replay has finished; returns its last status."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeRemainingColumn)

    status = replays.get(replay_id)
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, disable=quiet, transient=False) as bar:
        read = bar.add_task("read", total=status.get("records") or None, rate="")
        routed = bar.add_task("routed", total=None, rate="")
        delivered = bar.add_task("delivered", total=None, rate="")
        last = (time.monotonic(), 0)
        while True:
            status = replays.get(replay_id)
            done = status["delivered"] + status["failed"] + status["dropped"]
            now = time.monotonic()
            rate = (done - last[1]) / max(now - last[0], 1e-9)
            last = (now, done)
            bar.update(read, completed=status["read"])
            bar.update(routed, completed=status["routed"],
                       total=status["routed"] if status["state"] != "running" else None)
            bar.update(delivered, completed=done, total=status["routed"] or None,
                       rate=f"{rate:,.0f}/s")
            if status["state"] in FINISHED:
                return status
            time.sleep(0.5)


def replay_group() -> click.Group:
    @click.group(name="replay")
    def replay() -> None:
        """Re-deliver a time window of the raw history to one loop (marked as a replay)."""

    @replay.command(name="start")
    @click.argument("loop_id")
    @window_options
    @click.option("--rate", type=float, help="at most this many deliveries per second")
    @click.option("--new-ids", is_flag=True,
                  help="fresh webhook-ids (a backfill into a new store); default: the "
                       "original deliveries' ids, so a receiver can drop what it has")
    @click.option("--dry-run", is_flag=True, help="count what would be sent; send nothing")
    def start(loop_id: str, since: str, until: str | None, types: str | None,
              database: str | None, collection: str | None, rate: float | None,
              new_ids: bool, dry_run: bool) -> None:
        """Start replaying [--since, --until) to LOOP_ID; prints the replay (its id)."""
        body: dict[str, Any] = {"loop": loop_id, "since": since, "new_ids": new_ids,
                                "dry_run": dry_run}
        for key, value in (("until", until), ("database", database),
                           ("collection", collection), ("rate_per_s", rate)):
            if value is not None:
                body[key] = value
        if types is not None:
            body["types"] = [t.strip() for t in types.split(",") if t.strip()]

        def action(r: Replays) -> dict[str, Any]:
            started = r.start(body)
            return _follow(r, started["id"], quiet=True) if dry_run else started

        status = with_replays(connected_config(), action)
        if dry_run:
            click.echo(f"dry run: {status['selected']:,} events would be sent to {loop_id} "
                       f"({status['read']:,} records read); nothing was sent", err=True)
        _echo(status)

    @replay.command(name="list")
    def listing() -> None:
        """Every replay with its state and counts, oldest first."""
        _echo({"replays": with_replays(connected_config(), lambda r: r.list())})

    @replay.command(name="status")
    @click.argument("replay_id")
    @click.option("--quiet", is_flag=True, help="no progress bar, only the final status")
    def status(replay_id: str, quiet: bool) -> None:
        """Live progress (read / routed / delivered, rate, ETA) until the replay finishes."""
        _echo(with_replays(connected_config(), lambda r: _follow(r, replay_id, quiet)))

    @replay.command(name="cancel")
    @click.argument("replay_id")
    def cancel(replay_id: str) -> None:
        """Stop a replay: nothing more is read, queued deliveries are dropped."""
        _echo(with_replays(connected_config(), lambda r: r.cancel(replay_id)))

    return replay


def replayer_command() -> click.Command:
    @click.command(name="replayer")
    def replayer() -> None:
        """Run a replayer process: runs replays and delivers them in the replay lane."""
        from streams.replay.main import run_replayer

        run_replayer(connected_config())

    return replayer
