"""A click group that lists its commands under headings and imports each one only when used.

The commands are a declared table (:class:`Section` of :class:`Entry`): adding a command to a
heading is one line. ``--help`` shows the table's one-line summaries without importing any
command module, so it starts without Faust, aiohttp or Kafka clients; a command's module is
imported when that command runs or shows its own help.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Sequence

import click

__all__ = ["Entry", "Section", "SectionedGroup"]


@dataclass(frozen=True)
class Entry:
    """One command: its ``name``, ``target`` (``"module:attribute"``, a click command or a
    function returning one) and the ``summary`` the group's ``--help`` shows."""

    name: str
    target: str
    summary: str


@dataclass(frozen=True)
class Section:
    """A heading of ``--help`` and its commands, in the order shown; ``title=None`` hides
    them from ``--help`` (they still run)."""

    title: str | None
    entries: tuple[Entry, ...]


class SectionedGroup(click.Group):
    """``click.Group`` over a table of :class:`Section`; commands load on first use."""

    def __init__(self, *args: Any, sections: Sequence[Section] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = tuple(sections)
        self._entries = {e.name: e for s in self.sections for e in s.entries}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self._entries, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self._entries:
            return super().get_command(ctx, cmd_name)
        entry = self._entries[cmd_name]
        module_name, _, attribute = entry.target.partition(":")
        found = getattr(importlib.import_module(module_name), attribute)
        command = found if isinstance(found, click.Command) else found()
        command.name = entry.name
        command.short_help = entry.summary
        command.hidden = self._hidden(entry.name)
        self.add_command(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section in self.sections:
            if section.title is None:
                continue
            with formatter.section(section.title):
                formatter.write_dl([(e.name, e.summary) for e in section.entries])

    def _hidden(self, name: str) -> bool:
        return any(s.title is None and any(e.name == name for e in s.entries)
                   for s in self.sections)
