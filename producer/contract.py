"""The messages on the bus, as versioned JSON: a job to run, a job event, a cancel command, a heartbeat.

Decoding checks every field, so a malformed message is refused with ContractError
instead of crashing whoever reads it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

VERSION = 1

T = TypeVar("T")


class ContractError(ValueError):
    """A message that does not follow the contract."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    return uuid.uuid4().hex


def encode(message: Any) -> bytes:
    return json.dumps({"v": VERSION, "type": message.TYPE, **asdict(message)}).encode()


def decode(body: bytes, kind: type[T]) -> T:
    """Parse ``body`` as a message of ``kind``; unknown extra fields are ignored (newer senders)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ContractError("not a JSON object")
    if data.get("v") != VERSION or data.get("type") != kind.TYPE:  # type: ignore[attr-defined]
        raise ContractError(f"expected {kind.TYPE} v{VERSION}, got {data.get('type')!r} v{data.get('v')!r}")  # type: ignore[attr-defined]
    values = {}
    for spec in fields(kind):  # type: ignore[arg-type]
        if spec.name in data:
            values[spec.name] = data[spec.name]
    try:
        message = kind(**values)
    except TypeError as exc:
        raise ContractError(f"missing field in {kind.TYPE}: {exc}") from None
    message.validate()  # type: ignore[attr-defined]
    return message


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ContractError(what)


def _is_job_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class JobMessage:
    """Run this job: everything a consumer needs, none of it from the database."""

    TYPE = "job"

    job_id: str
    runtime: str
    input_key: str
    time_limit: int
    memory_limit: int
    datasets: list[str] = field(default_factory=list)
    disk_limit: int | None = None  # MiB under /job; None from a sender older than disk limits: the consumer's default

    def validate(self) -> None:
        _check(_is_job_id(self.job_id), "job_id must be 32 hex digits")
        _check(isinstance(self.runtime, str) and self.runtime.isidentifier(), "bad runtime")
        _check(isinstance(self.input_key, str) and self.input_key.startswith("jobs/"), "bad input_key")
        _check(isinstance(self.time_limit, int) and self.time_limit > 0, "time_limit must be a positive integer")
        _check(isinstance(self.memory_limit, int) and self.memory_limit > 0, "memory_limit must be a positive integer")
        _check(isinstance(self.datasets, list) and all(isinstance(d, str) for d in self.datasets), "bad datasets")
        _check(self.disk_limit is None or (type(self.disk_limit) is int and self.disk_limit > 0), "disk_limit must be a positive integer")


ENVIRONMENTS = (None, "base", "cached", "built")


@dataclass(frozen=True)
class JobEvent:
    """A consumer's report on a job; the recorder applies it to the job's row."""

    TYPE = "job_event"

    job_id: str
    status: str
    reason: str = ""
    consumer: str = ""
    attempt: int = 0
    at: str = field(default_factory=now_iso)
    event_id: str = field(default_factory=_new_id)
    exit_code: int | None = None
    container_runtime: str | None = None
    output_key: str | None = None
    output_bytes: int | None = None
    log_key: str | None = None
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    environment: str | None = None  # how the job's image came about: "base" (no requirements), "cached" or "built"

    def validate(self) -> None:
        _check(_is_job_id(self.job_id), "job_id must be 32 hex digits")
        _check(isinstance(self.status, str), "status must be a string")
        _check(self.environment in ENVIRONMENTS, "environment must be base, cached or built")
        _check(isinstance(self.event_id, str) and 0 < len(self.event_id) <= 32, "bad event_id")
        _check(isinstance(self.attempt, int), "attempt must be an integer")
        try:
            datetime.fromisoformat(self.at)
        except (TypeError, ValueError):
            raise ContractError("at must be an ISO 8601 time") from None
        _check(self.exit_code is None or isinstance(self.exit_code, int), "exit_code must be an integer")


@dataclass(frozen=True)
class CancelCommand:
    """Stop this job wherever it runs."""

    TYPE = "cancel"

    job_id: str

    def validate(self) -> None:
        _check(_is_job_id(self.job_id), "job_id must be 32 hex digits")


@dataclass(frozen=True)
class Heartbeat:
    """A consumer saying it is alive, and how busy."""

    TYPE = "heartbeat"

    consumer: str
    runtime: str
    host: str
    slots: int
    busy: int
    at: str = field(default_factory=now_iso)
    paused: str = ""  # why the consumer takes no new job now (e.g. the Docker host's disk is short); "" when it does

    def validate(self) -> None:
        _check(isinstance(self.consumer, str) and 0 < len(self.consumer) <= 255, "bad consumer name")
        _check(isinstance(self.slots, int) and isinstance(self.busy, int), "slots and busy must be integers")
        _check(isinstance(self.paused, str) and len(self.paused) <= 500, "paused must be a short text")
