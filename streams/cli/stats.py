"""``feedbackloops stats`` (a table or JSON) and ``feedbackloops accounts new-token``.

``stats`` reads ``fl.stats`` itself (it needs broker access, like every CLI command, and sees
every account); ``accounts new-token`` prints a fresh token and the line the YAML file needs
(only the SHA-256 goes into the file).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import click

from schemas.loop import Loop
from streams.api.accounts import ROLES, hash_token, new_token
from streams.cli.context import connected_config
from streams.errors import NotFound
from streams.kafka.loopstore import parse_loop
from streams.kafka.registry import CompactedView
from streams.kafka.topics import Topics
from streams.stats.counting import LEVELS
from streams.stats.queries import load_warning, mailings, report
from streams.stats.view import StatsView

__all__ = ["accounts_group", "stats_command"]

COLUMNS = ("in", "invalid", "routed", "delivered", "retried", "errors", "dead")


def _table(doc: dict[str, Any]) -> str:
    head = f"{'window (UTC)':<17}" + "".join(f"{c:>10}" for c in COLUMNS) + f"{'p50 ms':>9}{'p99 ms':>9}"
    lines = [head, "-" * len(head)]
    for row in [*doc["series"], {**doc["total"], "start_ms": None}]:
        when = ("total" if row["start_ms"] is None else
                datetime.fromtimestamp(row["start_ms"] / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M"))
        lat = row["latency_ms"]
        lines.append(f"{when:<17}" + "".join(f"{row[c]:>10}" for c in COLUMNS)
                     + f"{lat['p50'] if lat['p50'] is not None else '-':>9}"
                     + f"{lat['p99'] if lat['p99'] is not None else '-':>9}")
    for m in doc.get("mailings", []):
        lines.append(f"mailing {m['mailing']}: opens {m['opens']} (unique {m['unique_opens']}), "
                     f"clicks {m['clicks']} (unique {m['unique_clicks']})")
    for w in doc.get("warnings", []):
        lines.append(f"warning: {w['message']}")
    return "\n".join(lines)


def stats_command() -> click.Command:
    @click.command(name="stats")
    @click.option("--window", type=click.Choice(list(LEVELS)), default="1m", show_default=True)
    @click.option("--last", type=click.IntRange(1, 180), default=10, show_default=True,
                  help="how many windows")
    @click.option("--database")
    @click.option("--collection")
    @click.option("--event")
    @click.argument("loop_id", required=False)
    @click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
    def stats(window: str, last: int, database: str | None, collection: str | None,
              event: str | None, loop_id: str | None, as_json: bool) -> None:
        """Windowed counts of the pipeline (of one loop, database, collection, event type)."""
        config = connected_config()
        topics = Topics.for_config(config)
        view = StatsView(config.kafka, topics.stats).start()
        loops: CompactedView[Loop] = CompactedView(config.kafka, topics.loops, parse_loop).start()
        try:
            typed = ("type", event) if event else ()
            if loop_id is not None:
                loop = loops.get(loop_id)
                if loop is None:
                    raise NotFound(loop_id)
                doc = report(view, [("loop", loop_id, *typed)], window, last)
                warning = load_warning(view, loop, config.sender.defer_after_s)
                doc["warnings"] = [] if warning is None else [warning]
            else:
                dim: tuple[str, ...] = ()
                if database is not None:
                    dim = ("db", database) + (("coll", collection) if collection else ())
                doc = report(view, [(*dim, *typed)], window, last)
                if database is not None and collection is None:
                    doc["mailings"] = mailings(view, database)
        finally:
            view.stop()
            loops.stop()
        click.echo(json.dumps(doc, indent=2) if as_json else _table(doc))

    return stats


def accounts_group() -> click.Group:
    @click.group(name="accounts")
    def accounts() -> None:
        """API accounts (more over the API: /accounts)."""

    @accounts.command(name="new-token")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--label")
    def new(role: str, label: str | None) -> None:
        """Print a new API token (give it to its user) and the YAML line to put under
        api.accounts[].tokens (only its SHA-256 is stored)."""
        token, token_id = new_token()
        click.echo(f"token: {token}")
        entry = {"id": token_id, "role": role, "sha256": hash_token(token)}
        if label:
            entry["label"] = label
        click.echo("yaml:  - " + json.dumps(entry))

    return accounts
