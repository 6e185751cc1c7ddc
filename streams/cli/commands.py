"""Our CLI commands, attached to Faust's ``cli`` group: ``topics``, ``config``, ``demo``."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from streams.ops.loader import LoadReport, load_jsonl
from streams.kafka.provision import create_topics
from streams.config.settings import Config, Secret
from streams.kafka.topics import Topics

__all__ = ["register"]


def register(cli: click.Group, config: Config) -> None:
    """Add our command groups to ``cli``, each bound to ``config``."""

    @click.group(name="topics")
    def topics_group() -> None:
        """Provision and list the pipeline's Kafka topics."""

    @topics_group.command(name="create")
    def topics_create() -> None:
        """Create every topic of the design that does not exist yet (safe to re-run)."""
        result = create_topics(config.kafka, Topics.for_config(config).specs())
        for name in result.created:
            click.echo(f"created  {name}")
        for name in result.existing:
            click.echo(f"exists   {name}")
        for name in result.mismatched:
            click.echo(f"warning  {name} has a different partition count than configured",
                       err=True)

    @topics_group.command(name="list")
    def topics_list() -> None:
        """Print every topic with partitions and cleanup policy."""
        for spec in Topics.for_config(config).specs():
            click.echo(f"{spec.name:40} partitions={spec.partitions:<3} "
                       f"cleanup={spec.configs['cleanup.policy']}")

    @click.command(name="config")
    def show_config() -> None:
        """Print the validated configuration (secrets masked)."""
        click.echo(json.dumps(_plain(config), indent=2))

    @click.group(name="profiles")
    def profiles_group() -> None:
        """Bulk-load reference data: profile snapshots."""

    @profiles_group.command(name="load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--quiet", is_flag=True, help="no progress bar")
    def profiles_load(path: str, quiet: bool) -> None:
        """Load profile snapshots (JSON lines, schemas/profile.json) into fl.ref.profiles."""
        from schemas.validation import parse_profile

        _report(load_jsonl(config.kafka, Topics.for_config(config).ref_profiles, path,
                           parse_profile, not quiet), "profiles")

    @click.group(name="tags")
    def tags_group() -> None:
        """Bulk-load reference data: mailing and link tags."""

    @tags_group.command(name="load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--quiet", is_flag=True, help="no progress bar")
    def tags_load(path: str, quiet: bool) -> None:
        """Load mailing tags (JSON lines, schemas/tags.json) into fl.ref.tags."""
        from schemas.validation import parse_tags

        _report(load_jsonl(config.kafka, Topics.for_config(config).ref_tags, path, parse_tags,
                           not quiet), "mailings")

    @click.group(name="esp")
    def esp_group() -> None:
        """ESP feedback loops: complaint and bounce reports, unmapped reports, mail headers."""

    @esp_group.command(name="load")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
    def esp_load(paths: tuple[str, ...]) -> None:
        """Put reports on fl.esp.reports: .eml files, mbox files, maildirs or directories."""
        from streams.esp.ingest import publish_reports

        report = publish_reports(config.kafka, Topics.for_config(config).esp_reports,
                                 list(paths), config.esp.max_report_bytes)
        click.echo(f"sent {report.sent} reports; refused {report.refused} messages")
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if report.refused:
            raise SystemExit(1)

    @esp_group.command(name="unmapped")
    @click.option("--type", "finding_type", type=click.Choice(["bounce", "complaint"]),
                  default=None, help="Only reports holding this kind of finding.")
    @click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
    def esp_unmapped(finding_type: str | None, limit: int) -> None:
        """Reports whose findings could not be mapped to a profile (fl.esp.unmapped), newest
        first, with the parsed result and the reason."""
        from streams.esp.parked import recent

        found = recent(config.kafka, Topics.for_config(config).esp_unmapped, finding_type,
                       limit)
        click.echo(json.dumps({"unmapped": found}, indent=2, ensure_ascii=False))

    @esp_group.command(name="headers")
    @click.argument("database")
    @click.option("--profile", default=None)
    @click.option("--mailing", default=None)
    @click.option("--collection", default=None)
    @click.option("--subprofile", default=None)
    def esp_headers(database: str, profile: str | None, mailing: str | None,
                    collection: str | None, subprofile: str | None) -> None:
        """The headers to put into one outgoing message: X-FL-Ref, List-Unsubscribe (+ -Post,
        RFC 8058) and Feedback-ID."""
        from streams.api.esp import headers_for, parse_headers_request
        from streams.api.inputs import InputError

        body = {k: v for k, v in {"database": database, "profile": profile, "mailing": mailing,
                                  "collection": collection, "subprofile": subprofile}.items()
                if v is not None}
        try:
            headers = headers_for(config.esp, parse_headers_request(body))
        except InputError as exc:
            raise click.ClickException(f"{exc.field or 'esp'}: {exc.problem}") from None
        for name, value in headers.items():
            click.echo(f"{name}: {value}")

    @click.command(name="sender")
    def sender() -> None:
        """Run a sender process: POST deliveries to loops, retry, dead-letter."""
        from streams.delivery.main import run_sender

        run_sender(config)

    from streams.cli.analysts import export_command
    from streams.cli.replays import replay_group, replayer_command
    from streams.cli.control import dead_letters_group, invalid_group, loops_group
    from streams.demo.commands import demo_group

    cli.add_command(topics_group)
    cli.add_command(show_config)
    cli.add_command(sender)
    cli.add_command(profiles_group)
    cli.add_command(tags_group)
    cli.add_command(esp_group)
    cli.add_command(demo_group(config))
    cli.add_command(loops_group(config))
    cli.add_command(dead_letters_group(config))
    cli.add_command(invalid_group(config))
    cli.add_command(export_command(config))
    cli.add_command(replay_group(config))
    cli.add_command(replayer_command(config))


def _report(report: LoadReport, what: str) -> None:
    click.echo(f"loaded {report.loaded} {what}; rejected {report.rejected} lines")
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if report.rejected:
        raise SystemExit(1)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Secret):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj
