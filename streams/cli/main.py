"""``feedbackloops``: Faust's CLI (``worker``, ``agents``, ...) plus our own commands.

The configuration file comes from ``--config PATH`` (or ``-c PATH``) before the command, or
from ``FL_CONFIG``; without either, defaults plus environment overrides apply.
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

import click

from streams.config.loading import ConfigError, load_config

__all__ = ["main"]


def _pop_config(argv: list[str]) -> tuple[str | None, list[str]]:
    path = os.environ.get("FL_CONFIG") or None
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in ("--config", "-c"):
            path = next(it, None)
            if path is None:
                raise ConfigError(f"{arg} needs a file name")
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return path, rest


def _worker_defaults(argv: list[str]) -> list[str]:
    """Faust's ``worker`` turns its web server on (0.0.0.0:6066) unless told not to: we serve
    our own API instead, so ``--without-web`` is the default here."""
    if argv and argv[0] == "worker" and not any(a.startswith("--with") for a in argv):
        return [argv[0], "--without-web", *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        path, args = _pop_config(args)
        config = load_config(path)
        if path:  # child processes (demo, tests) inherit the same file
            os.environ["FL_CONFIG"] = path
    except ConfigError as exc:
        click.echo(f"feedbackloops: config error: {exc}", err=True)
        raise SystemExit(2) from None

    if config.worker.event_loop == "uvloop":
        # read by ``import faust`` (mode.loop.use), so it must be set before that import
        os.environ.setdefault("FAUST_LOOP", "uvloop")
    from faust.cli.faust import cli

    from streams.worker.app import build_app
    from streams.cli.commands import register

    app = build_app(config)
    register(cli, config)
    sys.argv = [sys.argv[0], *_worker_defaults(args)]
    app.main()

