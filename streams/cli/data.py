"""The data commands: ``topics``, ``profiles load``, ``tags load`` and ``esp``.

Each command that talks to Kafka first checks, within seconds, that a bootstrap server
answers (:func:`~streams.cli.context.connected_config`).
"""
from __future__ import annotations

import json
from typing import Any, Callable

import click

from streams.cli.context import connected_config, current_config

__all__ = ["esp_group", "profiles_group", "tags_group", "topics_group"]


@click.group(name="topics")
def topics_group() -> None:
    """Provision and list the pipeline's Kafka topics."""


@topics_group.command(name="create")
def topics_create() -> None:
    """Create every topic of the design that does not exist yet (safe to re-run)."""
    from streams.kafka.provision import create_topics
    from streams.kafka.topics import Topics

    config = connected_config()
    result = create_topics(config.kafka, Topics.for_config(config).specs())
    for name in result.created:
        click.echo(f"created  {name}")
    for name in result.existing:
        click.echo(f"exists   {name}")
    for name in result.mismatched:
        click.echo(f"warning  {name} has a different partition count than configured", err=True)


@topics_group.command(name="list")
def topics_list() -> None:
    """Print every topic with partitions and cleanup policy (from the configuration)."""
    from streams.kafka.topics import Topics

    for spec in Topics.for_config(current_config()).specs():
        click.echo(f"{spec.name:40} partitions={spec.partitions:<3} "
                   f"cleanup={spec.configs['cleanup.policy']}")


def _load_command(what: str, topic: Callable[[Any], str], parser: str, limit: str,
                  help: str) -> click.Command:
    """``load PATH``: validate each JSON line with ``schemas.validation.<parser>`` (refusing
    lines over ``limits.<limit>``) and write it to ``topic(Topics)``, keyed by its id."""

    @click.command(name="load", help=help)
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--quiet", is_flag=True, help="no progress bar")
    def load(path: str, quiet: bool) -> None:
        import schemas.validation  # compiles the JSON schemas: only when loading

        from streams.kafka.limits import sized
        from streams.kafka.topics import Topics
        from streams.ops.loader import load_jsonl

        config = connected_config()
        parse = sized(getattr(schemas.validation, parser), getattr(config.limits, limit),
                      "the line", f"limits.{limit}")
        report = load_jsonl(config.kafka, topic(Topics.for_config(config)), path, parse,
                            not quiet)
        click.echo(f"loaded {report.loaded} {what}; rejected {report.rejected} lines")
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if report.rejected:
            raise SystemExit(1)

    return load


@click.group(name="profiles")
def profiles_group() -> None:
    """Bulk-load reference data: profile snapshots."""


profiles_group.add_command(_load_command(
    "profiles", lambda t: t.ref_profiles, "parse_profile", "profile_bytes",
    "Load profile snapshots (JSON lines, schemas/profile.json) into fl.ref.profiles."))


@click.group(name="tags")
def tags_group() -> None:
    """Bulk-load reference data: mailing and link tags."""


tags_group.add_command(_load_command(
    "mailings", lambda t: t.ref_tags, "parse_tags", "tags_bytes",
    "Load mailing tags (JSON lines, schemas/tags.json) into fl.ref.tags."))


@click.group(name="esp")
def esp_group() -> None:
    """ESP feedback loops: complaint and bounce reports, unmapped reports, mail headers."""


@esp_group.command(name="load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
def esp_load(paths: tuple[str, ...]) -> None:
    """Put reports on fl.esp.reports: .eml files, mbox files, maildirs or directories."""
    from streams.esp.ingest import publish_reports
    from streams.kafka.topics import Topics

    config = connected_config()
    report = publish_reports(config.kafka, Topics.for_config(config).esp_reports,
                             list(paths), config.limits.esp_report_bytes)
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
    from streams.kafka.topics import Topics

    config = connected_config()
    found = recent(config.kafka, Topics.for_config(config).esp_unmapped, finding_type, limit)
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

    body = {k: v for k, v in {"database": database, "profile": profile, "mailing": mailing,
                              "collection": collection, "subprofile": subprofile}.items()
            if v is not None}
    for name, value in headers_for(current_config().esp, parse_headers_request(body)).items():
        click.echo(f"{name}: {value}")
