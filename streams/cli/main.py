"""``feedbackloops``: the root command, the table of its commands, and ``config``.

Every command is imported only when it runs (:mod:`streams.cli.sections`), so ``--help``,
``config`` and every command but ``worker`` start without Faust. An expected failure (any
:class:`~streams.errors.StreamsError`, a confluent-kafka error translated by
:func:`streams.kafka.failures.translate`, an ``OSError`` such as an unreadable file or a port
in use) ends a command with one line on stderr and the error's exit status, never a
traceback.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Sequence

import click

from streams.cli.context import CliState, current_config
from streams.cli.sections import Entry, Section, SectionedGroup
from streams.errors import StreamsError

__all__ = ["COMMANDS", "cli", "main"]

#: ``feedbackloops --help``'s headings; a command is one line here (see ``Entry``).
COMMANDS = (
    Section("Run", (
        Entry("worker", "streams.cli.run:worker",
              "Run a stream worker: validate, enrich and route events (Faust)."),
        Entry("sender", "streams.cli.run:sender",
              "Run a sender: POST deliveries to loops, retry, dead-letter."),
        Entry("replayer", "streams.cli.replays:replayer_command",
              "Run a replayer: run replays and send them in the replay lane."),
        Entry("demo", "streams.demo.commands:demo_group",
              "The demo behind `make run`: broker, worker, sender, receiver, producer."),
    )),
    Section("Operate", (
        Entry("loops", "streams.cli.control:loops_group",
              "Add, list, change, validate and test feedback loops."),
        Entry("dead-letters", "streams.cli.control:dead_letters_group",
              "List dead letters and re-drive them."),
        Entry("invalid", "streams.cli.control:invalid_group",
              "List records the worker refused (fl.invalid) and replay them."),
        Entry("esp", "streams.cli.data:esp_group",
              "ESP reports (complaints, bounces): load, list unmapped; mail headers."),
        Entry("stats", "streams.cli.stats:stats_command",
              "Windowed counts per loop, database, event type; load warnings."),
        Entry("partitions", "streams.cli.partitions:partitions_group",
              "Scale the pipeline's own partitions online: scale, status, cancel."),
    )),
    Section("Analyse", (
        Entry("replay", "streams.cli.replays:replay_group",
              "Re-deliver a time window of the raw history to one loop (marked)."),
        Entry("export", "streams.cli.analysts:export_command",
              "Write a window's enriched events to JSON lines, CSV or Parquet."),
    )),
    Section("Data", (
        Entry("topics", "streams.cli.data:topics_group",
              "Create or list the pipeline's Kafka topics."),
        Entry("profiles", "streams.cli.data:profiles_group",
              "Bulk-load profile snapshots into fl.ref.profiles."),
        Entry("tags", "streams.cli.data:tags_group",
              "Bulk-load mailing and link tags into fl.ref.tags."),
    )),
    Section("Configure", (
        Entry("config", "streams.cli.main:show_config",
              "Print the validated configuration (secrets masked)."),
        Entry("accounts", "streams.cli.stats:accounts_group",
              "API accounts: a new token and its configuration line."),
    )),
    Section(None, (
        Entry("faust", "streams.cli.run:faust", "Faust's own command line for this app."),
    )),
)


class _Failed(click.ClickException):
    """An expected failure: ``Error: <one line>`` on stderr, the error's exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Root(SectionedGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:  # a file that cannot be read, a port already taken, ...
            where = f"{exc.filename}: " if exc.filename else ""
            raise _Failed(f"{where}{exc.strerror or exc}", 1) from None
        except Exception as exc:
            ours = _ours(exc, ctx)
            if ours is None:
                raise
            raise _Failed(str(ours), ours.exit_code) from None


def _ours(exc: Exception, ctx: click.Context) -> StreamsError | None:
    if isinstance(exc, StreamsError):
        return exc
    # confluent-kafka is imported by the commands that use it; an exception of its type can
    # only exist once it is (and --help must not pay for importing it)
    kafka = sys.modules.get("confluent_kafka")
    if kafka is not None and isinstance(exc, kafka.KafkaException):
        from streams.kafka.failures import translate

        state = ctx.find_object(CliState)
        config = state.loaded if state is not None else None
        return translate(exc, config.kafka.bootstrap_servers if config else "the cluster")
    return None


@click.group(cls=_Root, sections=COMMANDS, context_settings={"max_content_width": 100})
@click.option("-c", "--config", "config_path", envvar="FL_CONFIG", metavar="FILE",
              help="YAML configuration (default: $FL_CONFIG, else defaults plus environment).")
@click.version_option(package_name="feedbackloops", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Feedback Loops: real-time e-mail event webhooks on Kafka.

    E-mail events (opens, clicks, bounces, complaints, profile edits ...) arrive on Kafka.
    Two kinds of process carry them to customers: workers enrich each event with the
    recipient's profile and the mailing's tags and route it to every feedback loop (a URL
    whose ownership is proven) that asked for it; senders POST it there, signed,
    rate-limited, retried and dead-lettered. Run each as many times as there are partitions.

    The configuration is one YAML file (--config FILE, or FL_CONFIG) overridden by the
    environment (KAFKA_BOOTSTRAP_SERVERS, FL_<SECTION>_<KEY>); `feedbackloops config` prints
    what applies.
    """
    ctx.obj = CliState(config_path or None)
    if config_path:  # child processes (the demo's) read the same file
        os.environ["FL_CONFIG"] = config_path


@click.command(name="config")
def show_config() -> None:
    """Print the validated configuration as JSON (secrets masked)."""
    click.echo(json.dumps(_plain(current_config()), indent=2))


def _plain(obj: Any) -> Any:
    from streams.config.settings import Secret

    if isinstance(obj, Secret):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


def main(argv: Sequence[str] | None = None) -> None:
    """The ``feedbackloops`` console script (and ``python -m streams``)."""
    cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="feedbackloops")
