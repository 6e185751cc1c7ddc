"""Configuration: one YAML file plus environment overrides, validated once into a frozen object.

Precedence (last wins): defaults < YAML file < environment. Environment variables:

- ``KAFKA_BOOTSTRAP_SERVERS`` (the conventional name) sets ``kafka.bootstrap_servers``;
- ``FL_<SECTION>_<KEY>`` sets any scalar, e.g. ``FL_API_PORT=7000``,
  ``FL_KAFKA_TOPIC_PREFIX=staging.``; lists take comma-separated values.

A bad key or value raises :class:`ConfigError` whose one-line message names the key, the bad
value and what would be valid; a misspelt key (in the file or an ``FL_`` variable) names the
closest valid one: ``kafka.partitons: unknown key (did you mean 'partitions'?)``.
Secrets (:class:`Secret`) print as ``'***'``.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from streams.config.settings import Config, Secret
from streams.errors import ConfigError

__all__ = ["ConfigError", "load_config", "parse_config"]

ENV_PREFIX = "FL_"


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (YAML; optional) and ``environ`` (default ``os.environ``) into a Config."""
    environ = os.environ if environ is None else environ
    data: Any = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"config file {path}:{where}: malformed YAML: {problem}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
    return parse_config(_apply_env(dict(data), environ))


def parse_config(data: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as YAML would give it) into a :class:`Config`."""
    config: Config = _build(Config, data, "")
    config.check()
    return config


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    sections = {f.name: f for f in dataclasses.fields(Config)}
    overrides: list[tuple[str, str, str, str]] = []
    if environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        overrides.append(("KAFKA_BOOTSTRAP_SERVERS", "kafka", "bootstrap_servers",
                          environ["KAFKA_BOOTSTRAP_SERVERS"]))
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _IGNORED_ENV:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section not in sections or section == "loops" or not key:
            valid = "valid: " + ", ".join(f"FL_{s.upper()}_<KEY>" for s in sections if s != "loops")
            raise ConfigError(f"environment {name}: unknown setting "
                              f"{_hint(rest, _env_names(), valid, _env_name)}")
        overrides.append((name, section, key, value))
    for env_name, section, key, value in overrides:
        section_type = _hints(Config)[section]
        field_names = {f.name for f in dataclasses.fields(section_type)}
        if key not in field_names:
            valid = f"valid keys: {', '.join(sorted(field_names))}"
            candidates = [f"{section}_{f}" for f in field_names]
            raise ConfigError(f"environment {env_name}: {section}.{key} is not a setting "
                              f"{_hint(f'{section}_{key}', candidates, valid, _env_name)}")
        current = data.get(section)
        if current is None:
            current = {}
        if not isinstance(current, dict):
            raise ConfigError(f"{section}: expected a mapping, got {current!r}")
        current = dict(current)
        current[key] = _EnvValue(value)
        data[section] = current
    return data


def _hint(typo: str, candidates: Iterable[str], valid: str, show: Callable[[str], str]) -> str:
    """``(did you mean X?)`` with the closest candidate (difflib), else ``(<valid>)``."""
    close = difflib.get_close_matches(typo, list(candidates), n=1)
    return f"(did you mean {show(close[0])}?)" if close else f"({valid})"


def _env_names() -> list[str]:
    """Every ``<section>_<key>`` the environment may set, lower case, without the prefix."""
    return [f"{section.name}_{f.name}" for section in dataclasses.fields(Config)
            if section.name != "loops"
            for f in dataclasses.fields(_hints(Config)[section.name])]


def _env_name(section_key: str) -> str:
    return f"{ENV_PREFIX}{section_key.upper()}"


# Set by tools around us, not by users: never treated as our settings.
_IGNORED_ENV = frozenset({"FL_CONFIG"})


class _EnvValue(str):
    """A string from the environment: scalars are parsed from text, lists split on commas."""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {_show(data)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        valid = f"valid keys here: {', '.join(sorted(fields))}"
        raise ConfigError(f"{key}: unknown key {_hint(unknown[0], fields, valid, repr)}")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(hints[name], value, key)
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or 'config'}: {exc}") from None
    check = getattr(obj, "check", None)
    if check is not None and cls is not Config:
        try:
            check()
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}" if where else str(exc)) from None
    return obj


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        item_type = args[0]
        if isinstance(value, _EnvValue):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        return tuple(_coerce(item_type, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:  # str -> scalar; from the environment as "k=v,k2=v2"
        if isinstance(value, _EnvValue):
            pairs = [v.split("=", 1) for v in value.split(",") if v.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ConfigError(f"{key}: expected key=value pairs separated by commas")
            value = {k.strip(): v.strip() for k, v in pairs}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {_show(value)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str) or not value:
            got = "an empty string" if isinstance(value, str) else f"a {type(value).__name__}"
            raise ConfigError(f"{key}: expected a non-empty string, got {got}")
        return Secret(str(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
    if tp is int or tp is float:
        what = "an integer" if tp is int else "a number"
        if isinstance(value, bool):  # bool is an int to Python, never to a configuration
            raise ConfigError(f"{key}: expected {what}, got {_show(value)}")
        if isinstance(value, int if tp is int else (int, float)):
            return tp(value)
        if isinstance(value, str):
            try:
                return tp(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected {what}, got {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {_show(value)}")
    if typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise ConfigError(f"{key}: expected one of {', '.join(map(str, choices))}, got {_show(value)}")
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in settings.py


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
