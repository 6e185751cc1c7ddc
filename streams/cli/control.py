"""``feedbackloops loops add|list|show|validate|test|rm|rotate-secret|public-key``, ``dead-letters``,
``invalid``.

The same :class:`ControlPlane` as the HTTP API, run in this process against Kafka: the CLI
needs broker access, not an API token. Output is JSON (one document per command). A bad
argument or unknown id ends the command through the root's error handling (one line).
"""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any, Awaitable, Callable, TypeVar

import click

from senders.client import HttpClient
from senders.ssrf import SsrfPolicy

from streams.cli.context import connected_config
from streams.kafka.loopstore import LoopStore, parse_loop
from streams.kafka.registry import CompactedView
from schemas.loop import Loop
from streams.kafka.topics import Topics
from streams.api.control import ControlPlane, public_view
from streams.api.inputs import parse_create, parse_list_filter, parse_patch, parse_test

__all__ = ["dead_letters_group", "invalid_group", "loops_group"]

T = TypeVar("T")


def _run(action: Callable[[ControlPlane], Awaitable[T]]) -> T:
    config = connected_config()

    async def main() -> T:
        topics = Topics.for_config(config)
        view: CompactedView[Loop] = CompactedView(config.kafka, topics.loops, parse_loop)
        await asyncio.get_running_loop().run_in_executor(None, view.start)
        client = HttpClient(SsrfPolicy(config.security.allow_networks))
        await client.start()
        try:
            control = ControlPlane(LoopStore(config.kafka, topics.loops, view), client,
                                   config.kafka, topics)
            return await action(control)
        finally:
            await client.close()
            view.stop()

    return asyncio.run(main())


def _echo(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def loops_group() -> click.Group:
    @click.group(name="loops")
    def loops() -> None:
        """Manage feedback loops (the same operations as the control API)."""

    @loops.command(name="add")
    @click.argument("url")
    @click.option("--events", required=True, help="comma-separated event types, e.g. open,click")
    @click.option("--database")
    @click.option("--collection")
    @click.option("--encoding", type=click.Choice(["json", "form", "json-batch"]), default="json")
    @click.option("--fields", help="comma-separated profile fields to include (default: all)")
    @click.option("--rate-per-s", type=float)
    @click.option("--max-in-flight", type=int)
    @click.option("--timeout-s", type=float)
    @click.option("--signature", type=click.Choice(["v1", "v1a"]),
                  help="v1: a shared HMAC secret (default); v1a: ed25519, receivers hold a "
                       "public key")
    def add(url: str, events: str, database: str | None, collection: str | None, encoding: str,
            fields: str | None, rate_per_s: float | None, max_in_flight: int | None,
            timeout_s: float | None, signature: str | None) -> None:
        """Create a loop; prints it with its secret and ownership challenge."""
        body: dict[str, Any] = {"url": url, "events": _split(events), "encoding": encoding}
        for key, value in (("database", database), ("collection", collection),
                           ("fields", _split(fields)), ("rate_per_s", rate_per_s),
                           ("max_in_flight", max_in_flight), ("timeout_s", timeout_s),
                           ("signature", signature)):
            if value is not None:
                body[key] = value
        checked = parse_create(body)
        loop = _run(lambda c: c.create(checked))
        _echo(public_view(loop, reveal_secrets=True))

    @loops.command(name="list")
    @click.option("--database")
    @click.option("--collection")
    @click.option("--event")
    def listing(database: str | None, collection: str | None, event: str | None) -> None:
        """List loops, optionally of one database, collection and/or event type."""

        async def action(c: ControlPlane) -> list[dict[str, Any]]:
            filters = parse_list_filter({k: v for k, v in (("database", database),
                                                           ("collection", collection),
                                                           ("event", event)) if v is not None})
            return [public_view(loop) for loop in c.list(*filters)]

        _echo({"loops": _run(action)})

    @loops.command(name="show")
    @click.argument("loop_id")
    def show(loop_id: str) -> None:
        """Show one loop (secrets masked)."""

        async def action(c: ControlPlane) -> dict[str, Any]:
            return public_view(c.get(loop_id))

        _echo(_run(action))

    @loops.command(name="set")
    @click.argument("loop_id")
    @click.option("--url")
    @click.option("--events")
    @click.option("--database")
    @click.option("--collection")
    @click.option("--encoding", type=click.Choice(["json", "form", "json-batch"]))
    @click.option("--fields", help="comma-separated profile fields to include")
    @click.option("--rate-per-s", type=float)
    @click.option("--max-in-flight", type=int)
    @click.option("--timeout-s", type=float)
    @click.option("--status", type=click.Choice(["enabled", "disabled"]))
    def set_(loop_id: str, url: str | None, events: str | None, database: str | None,
             collection: str | None, encoding: str | None, fields: str | None,
             rate_per_s: float | None, max_in_flight: int | None, timeout_s: float | None,
             status: str | None) -> None:
        """Change a loop (a new URL clears validation; --status enabled re-enables it)."""
        body = {k: v for k, v in (("url", url), ("events", _split(events)),
                                  ("database", database), ("collection", collection),
                                  ("encoding", encoding), ("fields", _split(fields)),
                                  ("rate_per_s", rate_per_s), ("max_in_flight", max_in_flight),
                                  ("timeout_s", timeout_s), ("status", status))
                if v is not None}
        checked = parse_patch(body)
        _echo(public_view(_run(lambda c: c.patch(loop_id, checked))))

    @loops.command(name="validate")
    @click.argument("loop_id")
    @click.option("--method", type=click.Choice(["file", "dns"]), default="file")
    def validate(loop_id: str, method: str) -> None:
        """Check URL ownership now."""
        loop, result = _run(lambda c: c.validate(loop_id, method))
        _echo({"validated": result.valid, "checks": [ch.as_dict() for ch in result.checks],
               "loop": public_view(loop)})
        if not result.valid:
            raise SystemExit(1)

    @loops.command(name="test")
    @click.argument("loop_id")
    @click.option("--json", "json_data", help="a JSON object to send")
    @click.option("--form", "form_data", help="form fields as a JSON object")
    def test(loop_id: str, json_data: str | None, form_data: str | None) -> None:
        """Send your own data to the loop's URL now and show the answer."""
        body: dict[str, Any] = {}
        try:
            if json_data is not None:
                body["json"] = json.loads(json_data)
            if form_data is not None:
                body["form"] = json.loads(form_data)
        except ValueError as exc:
            raise click.ClickException(f"not JSON: {exc}") from None
        encoding, data = parse_test(body)
        _echo(_run(lambda c: c.test_call(loop_id, encoding, data)))

    @loops.command(name="rm")
    @click.argument("loop_id")
    def rm(loop_id: str) -> None:
        """Delete a loop."""
        _run(lambda c: c.delete(loop_id))
        click.echo(f"deleted {loop_id}")

    @loops.command(name="rotate-secret")
    @click.argument("loop_id")
    @click.option("--grace-s", type=float, default=86400.0, show_default=True,
                  help="how long the old secret keeps signing")
    @click.option("--signature", type=click.Choice(["v1", "v1a"]),
                  help="the new secret's kind (default: the loop's current one)")
    def rotate(loop_id: str, grace_s: float, signature: str | None) -> None:
        """Issue a new signing secret; the old one signs too until the grace period ends."""
        loop, new = _run(lambda c: c.rotate_secret(loop_id, grace_s, signature))
        _echo({**new, "loop": public_view(loop)})

    @loops.command(name="public-key")
    @click.argument("loop_id")
    def public_key(loop_id: str) -> None:
        """The public keys receivers verify a v1a (ed25519) loop's signatures with."""

        async def action(c: ControlPlane) -> list[dict[str, Any]]:
            return c.public_keys(loop_id)

        _echo({"public_keys": _run(action)})

    return loops


# The loop is an argument, not an option: when every command imported Faust, Faust took any
# argument starting with "--loop" (or "-L") from sys.argv as its event-loop implementation.
def dead_letters_group() -> click.Group:
    @click.group(name="dead-letters")
    def dead() -> None:
        """Read and re-drive dead letters."""

    @dead.command(name="list")
    @click.argument("loop_id", required=False)
    @click.option("--limit", type=int, default=20, show_default=True)
    def listing(loop_id: str | None, limit: int) -> None:
        """The newest dead letters (of LOOP_ID, else of every loop)."""
        _echo({"dead_letters": _run(lambda c: c.dead_letters(loop_id, limit))})

    @dead.command(name="redrive")
    @click.argument("loop_id", required=False)
    @click.option("--since", help="dead since: ISO 8601 time, or an age like 90m, 6h, 2d")
    @click.option("--until", help="dead before: ISO 8601 time, or an age")
    @click.option("--dry-run", is_flag=True, help="count, do not write")
    def redrive(loop_id: str | None, since: str | None, until: str | None, dry_run: bool) -> None:
        """Put dead letters (of LOOP_ID, else of every loop) back on fl.deliveries: same
        webhook-id, a fresh retry schedule."""
        window = (_moment(since, "--since"), _moment(until, "--until"))
        _echo(_run(lambda c: c.redrive(loop_id, window[0], window[1], dry_run)))

    return dead


def invalid_group() -> click.Group:
    @click.group(name="invalid")
    def invalid() -> None:
        """Read fl.invalid and replay records after a fix."""

    @invalid.command(name="list")
    @click.option("--topic", help="only records from this source topic (full name)")
    @click.option("--reason", help="only records whose reason contains this text")
    @click.option("--limit", type=int, default=20, show_default=True)
    def listing(topic: str | None, reason: str | None, limit: int) -> None:
        """The newest invalid records, with reason and source coordinates."""
        _echo({"invalid": _run(lambda c: c.invalid(topic, reason, limit))})

    @invalid.command(name="replay")
    @click.option("--topic", help="only records from this source topic (full name)")
    @click.option("--reason", help="only records whose reason contains this text")
    @click.option("--since", help="parked since: ISO 8601 time, or an age like 90m, 6h, 2d")
    @click.option("--until", help="parked before: ISO 8601 time, or an age")
    @click.option("--dry-run", is_flag=True, help="count, do not write")
    def replay(topic: str | None, reason: str | None, since: str | None, until: str | None,
               dry_run: bool) -> None:
        """Write matching invalid records back to their source topics, unchanged."""
        window = (_moment(since, "--since"), _moment(until, "--until"))
        _echo(_run(lambda c: c.replay_invalid(topic, reason, window[0], window[1],
                                                      dry_run)))

    return invalid


def _moment(value: str | None, option: str) -> int | None:
    """ISO 8601 (``2026-11-26T10:00:00Z``) or an age (``90m``, ``6h``, ``2d``) -> Unix ms."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return int((time.time() - int(value[:-1]) * units[value[-1]]) * 1000)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither ISO 8601 nor an age like 6h",
                                 param_hint=option) from None
