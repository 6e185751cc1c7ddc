"""Logging for both process kinds: plain text by default, one JSON object per line with
``worker.json_logs: true`` (for log shippers)."""
from __future__ import annotations

import logging
import logging.config
import time
from typing import Any

import orjson

__all__ = ["JsonFormatter", "dict_config", "setup"]

TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "pid", "msg"[, "exc"]}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def dict_config(level: str, json_logs: bool) -> dict[str, Any]:
    formatter: dict[str, Any] = ({"()": f"{__name__}.JsonFormatter"} if json_logs
                                 else {"format": TEXT_FORMAT})
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def setup(level: str, json_logs: bool) -> None:
    logging.config.dictConfig(dict_config(level, json_logs))
