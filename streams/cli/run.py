"""The two long-running processes, ``worker`` and ``sender``, and Faust's own command line.

Both check at start-up that a bootstrap server answers and exit with one line (status 69)
when none does, within seconds: a supervisor (Kubernetes, compose, the demo) restarts them.
Once running, a broker outage is waited out (both Kafka clients reconnect on their own).
``worker`` is the only command that builds the Faust app.
"""
from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from streams.cli.context import connected_config, current_config
from streams.config.settings import Config

__all__ = ["faust", "sender", "worker", "worker_defaults"]

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def worker_defaults(args: list[str]) -> list[str]:
    """Faust's ``worker`` turns its web server on (0.0.0.0:6066) unless told not to: we serve
    our own API instead, so ``--without-web`` is the default here."""
    if not any(a.startswith(("--with-web", "--without-web")) for a in args):
        return ["--without-web", *args]
    return args


@click.command(context_settings=_PASS_THROUGH)
@click.option("-l", "--loglevel",
              type=click.Choice(["crit", "error", "warn", "info", "debug"], case_sensitive=False),
              help="Log level (Faust's default: warn).")
@click.argument("faust_args", nargs=-1, type=click.UNPROCESSED)
def worker(loglevel: str | None, faust_args: tuple[str, ...]) -> None:
    """Run a stream worker: validate raw events (bad ones go to fl.invalid), keep the profile
    table, join tags, route to loops, write fl.deliveries; serve the control API.

    Other options of Faust's worker pass through (see `feedbackloops faust worker --help`);
    its own web server stays off unless --with-web is given.
    """
    config = connected_config()
    args = worker_defaults(list(faust_args))
    _run_faust(config, ["worker", *args, *(["-l", loglevel] if loglevel else [])])


@click.command()
def sender() -> None:
    """Run a sender: consume fl.deliveries and the retry tiers, POST to each loop within its
    limits, write fl.attempts, retries and dead letters."""
    from streams.delivery.main import run_sender

    run_sender(connected_config())


@click.command(context_settings={**_PASS_THROUGH, "help_option_names": []})
@click.argument("faust_args", nargs=-1, type=click.UNPROCESSED)
def faust(faust_args: tuple[str, ...]) -> None:
    """Faust's own command line for this app (agents, tables, send, ...)."""
    _run_faust(current_config(), list(faust_args))


def _run_faust(config: Config, argv: list[str]) -> NoReturn:
    if config.worker.event_loop == "uvloop":
        # read by ``import faust`` (mode.loop.use), so it must be set before that import
        os.environ.setdefault("FAUST_LOOP", "uvloop")
    # Faust reads sys.argv (its own options, and --loop/-L at import time): only its part
    sys.argv = [sys.argv[0], *argv]
    if argv[:1] == ["worker"]:
        # what the worker logs before Faust sets logging up (Faust replaces this): the re-key
        # stage and the scaling coordinator start first, and their first lines (which worker
        # coordinates) were lost
        from streams.config.logs import setup

        level = argv[argv.index("-l") + 1] if "-l" in argv[:-1] else config.worker.log_level
        setup(level, config.worker.json_logs)
    if config.worker.partitioning == "repartition":
        from streams.worker.generation import generation_app

        generation_app(config).main()
    from streams.kafka.topics import Topics
    from streams.worker.app import build_app
    from streams.worker.maintenance import direct_sources

    # a worker waits out a partition change and takes the topics' own count (Faust's other
    # commands, for debugging, take the configuration's)
    sources = (direct_sources(config, Topics.for_config(config))[0] if argv[:1] == ["worker"]
               else None)
    build_app(config, sources).main()
