"""What every command gets from the root: the configuration, loaded on first use, and a broker
that answers.

The root group stores a :class:`CliState` on the click context; commands call
:func:`current_config` (no Kafka needed) or :func:`connected_config` (checks within seconds
that a bootstrap server answers, else :class:`~streams.errors.BrokerUnreachable`). Loading
late means ``--help`` works with a broken configuration file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from streams.config.loading import load_config
from streams.config.settings import Config

__all__ = ["CliState", "connected_config", "current_config"]


@dataclass
class CliState:
    """The root's options: ``config_path`` (``--config`` or ``FL_CONFIG``; None: defaults and
    the environment only)."""

    config_path: str | None
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        """The validated configuration (raises :class:`~streams.errors.ConfigError`)."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def loaded(self) -> Config | None:
        """The configuration if a command loaded it, else None."""
        return self._config


def current_config() -> Config:
    """The configuration of the running command."""
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:  # a command run on its own (tests): the environment names the file
        state = ctx.find_root().obj = CliState(os.environ.get("FL_CONFIG") or None)
    return state.config()


def connected_config() -> Config:
    """The configuration, after a bootstrap server answered (fails within seconds if none)."""
    from streams.kafka.failures import check_reachable

    config = current_config()
    check_reachable(config.kafka)
    return config
