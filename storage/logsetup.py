"""Logging of every labqueue process: JSON lines on stdout, one object per record, with the job id where there is one.

It lives in storage because every package may import storage (ARCHITECTURE.md) and it imports nothing of ours.
``LABQUEUE_LOG_FORMAT=text`` gives the human-readable format for development; ``LABQUEUE_LOG_LEVEL`` sets the level.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from storage.settings import Settings, setting

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOB_IN_MESSAGE = re.compile(r"\bjob ([0-9a-f]{32})\b")
# Attributes every LogRecord has; anything else on a record was passed as ``extra`` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, service, logger, message, job_id, extras, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": message,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if "job_id" not in entry and (match := JOB_IN_MESSAGE.search(message)):
            entry["job_id"] = match.group(1)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class LogSettings(Settings):
    log_format: Annotated[Literal["json", "text"], BeforeValidator(str.lower)] = setting(
        "json", "`text` for human-readable logs"
    )
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(str.upper)] = setting(
        "INFO", "the least severe records logged"
    )


def json_logs(env: Mapping[str, str] = os.environ) -> bool:
    return LogSettings.from_env(env).log_format == "json"


def make_formatter(service: str, env: Mapping[str, str] = os.environ) -> logging.Formatter:
    return JsonFormatter(service) if json_logs(env) else logging.Formatter(TEXT_FORMAT)


def configure_logging(service: str, env: Mapping[str, str] = os.environ) -> None:
    """Send every logger's records to stdout in the configured format; call once, from a process's main()."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(make_formatter(service, env))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LogSettings.from_env(env).log_level)
    logging.getLogger("pika").setLevel(logging.WARNING)
