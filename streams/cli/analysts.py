"""``feedbackloops export`` (and the shared option parsing of the analysts' commands).

Runs in this process against Kafka, like the other operator commands: no API token needed,
broker access is. Expected problems (a bad time, an empty or expired window, an unknown loop)
are one line and exit status 1.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, TypeVar

import click

from schemas.loop import Loop

from streams.cli.context import connected_config
from streams.config.settings import Config
from streams.kafka.loopstore import parse_loop
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.kafka.window import Window, WindowError
from streams.ops.history import Selection
from streams.ops.moments import MomentError, parse_moment

__all__ = ["export_command", "moment", "split_types", "tags_view", "window_options"]

F = TypeVar("F", bound=Callable[..., Any])


def window_options(command: F) -> F:
    """``--since``, ``--until``, ``--types``, ``--database``, ``--collection``: the window and
    the filters export and replay share."""
    for option in reversed([
        click.option("--since", required=True,
                     help="from this record time, inclusive: ISO 8601, or an age like 6h, 2d"),
        click.option("--until", help="to this record time, exclusive (default: now)"),
        click.option("--types", help="only these event types, comma-separated (open,click)"),
        click.option("--database", help="only events of this database"),
        click.option("--collection", help="only events of this collection"),
    ]):
        command = option(command)
    return command


def moment(value: str | None, option: str, default: int | None = None) -> int:
    """An option's time (ISO 8601, an age like ``6h``, Unix ms) as Unix ms."""
    if value is None:
        if default is None:
            raise click.BadParameter("is required", param_hint=option)
        return default
    try:
        return parse_moment(value)
    except MomentError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def split_types(value: str | None) -> frozenset[str] | None:
    """``open,click`` -> the event types, checked against the known ones."""
    if value is None:
        return None
    from schemas.validation import RAW_EVENT_TYPES

    types = frozenset(t.strip() for t in value.split(",") if t.strip())
    unknown = sorted(types - set(RAW_EVENT_TYPES))
    if unknown or not types:
        raise click.BadParameter(f"unknown event type {unknown[0] if unknown else value!r} "
                                 f"(known: {', '.join(sorted(RAW_EVENT_TYPES))})",
                                 param_hint="--types")
    return types


def tags_view(config: Config) -> CompactedView[dict[str, Any]]:
    """Today's mailing tags (``fl.ref.tags``), loaded."""
    from schemas.validation import parse_tags

    view: CompactedView[dict[str, Any]] = CompactedView(
        config.kafka, Topics.for_config(config).ref_tags, parse_tags)
    return view.start(60)


def _loop(config: Config, loop_id: str) -> Loop:
    view: CompactedView[Loop] = CompactedView(
        config.kafka, Topics.for_config(config).loops, parse_loop)
    view.start(60)
    try:
        loop = view.get(loop_id)
    finally:
        view.stop()
    if loop is None:
        raise click.ClickException(f"no loop with id {loop_id!r}")
    return loop


def export_command() -> click.Command:
    @click.command(name="export")
    @window_options
    @click.option("--scope", "loop_id", metavar="LOOP_ID",
                  help="only what this loop receives: its events, database, collection and "
                       "field selection")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]),
                  required=True)
    @click.option("--out", required=True,
                  help="a file, or a folder (existing or ending in /) for date partitions")
    @click.option("--jobs", type=click.IntRange(1, 64), default=min(4, os.cpu_count() or 1),
                  show_default=True,
                  help="processes (a folder --out only; each takes a share of the partitions)")
    @click.option("--quiet", is_flag=True, help="no progress bar")
    def export_(since: str, until: str | None, types: str | None, database: str | None,
                collection: str | None, loop_id: str | None, fmt: str, out: str,
                jobs: int, quiet: bool) -> None:
        """Write the enriched events of a time window to JSON lines, CSV or Parquet.

        Events are enriched as the live path does, with today's profile and tag state
        (profile_known is false for profiles the table does not hold today).
        """
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from streams.ops.export import export

        config = connected_config()
        since_ms = moment(since, "--since")
        until_ms = moment(until, "--until", parse_moment("now"))
        selection = Selection(split_types(types), database, collection,
                              _loop(config, loop_id) if loop_id else None)
        tags = tags_view(config)
        bar = Progress(TextColumn("export"), BarColumn(), TextColumn("{task.completed:,} of "
                       "{task.total:,} records"), TimeRemainingColumn(), disable=quiet,
                       transient=True)
        task = bar.add_task("export", total=None)

        def planned(window: Window) -> None:
            bar.update(task, total=window.records)

        try:
            with bar:
                report = export(config.kafka, Topics.for_config(config), tags, selection,
                                since_ms, until_ms, fmt, out,
                                progress=lambda n: bar.update(task, completed=n),
                                on_plan=planned, jobs=jobs)
        except WindowError as exc:
            raise click.ClickException(f"--{exc.field}: {exc.problem}") from None
        finally:
            tags.stop()
        c = report.counts
        click.echo(f"exported {report.rows:,} events to {len(report.files)} file(s) in "
                   f"{report.seconds:.1f} s ({report.per_s:,.0f} records/s); read "
                   f"{c['read']:,}: {c['selected']:,} selected, {c['filtered']:,} filtered, "
                   f"{c['invalid']:,} invalid, {c['outside']:,} outside the window", err=True)
        click.echo(json.dumps(report.as_dict(), indent=2))

    return export_
