"""One error root for streams/: the tree drawn in streams/errors.py, every exception class of
the package under it, no builtin raised on purpose, no exception matched by its name."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import click

import streams
import streams.errors as errors
from streams.errors import StreamsError
from tests.support.errortree import assert_tree_matches

STREAMS = Path(streams.__file__).parent


def _classes() -> dict[str, type[StreamsError]]:
    return {name: getattr(errors, name) for name in errors.__all__}


def test_docstring_draws_the_whole_tree_with_the_real_parents() -> None:
    assert_tree_matches(errors, "StreamsError")
    classes = _classes()
    for name, cls in classes.items():
        assert cls.__doc__ and "\n" not in cls.__doc__.strip(), f"{name}: one-line docstring"


def test_every_exception_class_in_streams_is_under_the_root() -> None:
    found = []
    for info in pkgutil.walk_packages([str(STREAMS)], "streams."):
        if info.name == "streams.__main__":  # runs the command line
            continue
        module = importlib.import_module(info.name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, BaseException) and cls.__module__ == module.__name__
                    and not issubclass(cls, click.ClickException)):  # how the CLI shows ours
                found.append(cls)
                assert issubclass(cls, StreamsError), f"{cls.__module__}.{cls.__qualname__}"
    assert len(found) >= len(_classes())


def test_no_builtin_raised_on_purpose_and_no_match_by_name() -> None:
    builtin = re.compile(r"raise (RuntimeError|TimeoutError|ValueError|LookupError|KeyError|"
                         r"Exception)\(")
    by_name = re.compile(r"__name__ ==|\.name\(\) ==|error_class [!=]=|\"\w+Error\" in str\(")
    for path in STREAMS.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            where = f"{path.relative_to(STREAMS.parent)}:{number}: {line.strip()}"
            assert not builtin.search(line), where
            assert not by_name.search(line), where


def test_exit_codes_tell_a_script_what_happened() -> None:
    assert errors.StreamsError.exit_code == 1
    assert errors.ConfigError.exit_code == errors.InputError.exit_code == 2
    assert errors.BrokerUnreachable("h:1", "refused").exit_code == 69
    assert "make kafka" in str(errors.BrokerUnreachable("h:1", "refused"))
