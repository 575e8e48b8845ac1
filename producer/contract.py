"""The messages on the bus, as versioned JSON: a job to run, a job event, a cancel command, a heartbeat.

Each message is a typed model (pydantic, strict: no coercion of "5" to 5 or 5 to "5"), so decoding checks every
field and a malformed message is refused with a ContractError naming the field, instead of reaching a job's row
or crashing whoever reads it. The wire format is the models' fields plus ``v`` (the contract's version) and ``type``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

VERSION = 1


class ContractError(ValueError):
    """A message that does not follow the contract."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    return uuid.uuid4().hex


def _iso_time(value: str) -> str:
    datetime.fromisoformat(value)  # a ValueError names the field through pydantic
    return value


JobId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
IsoTime = Annotated[str, AfterValidator(_iso_time)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]


class Message(BaseModel):
    """A message of the contract: immutable, strictly typed; unknown fields are ignored (newer senders)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")

    TYPE: ClassVar[str]


M = TypeVar("M", bound=Message)


def encode(message: Message) -> bytes:
    return json.dumps({"v": VERSION, "type": message.TYPE, **message.model_dump()}).encode()


def decode(body: bytes, kind: type[M]) -> M:
    """Parse ``body`` as a message of ``kind``, or raise ContractError saying which field is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ContractError("not a JSON object")
    if data.get("v") != VERSION or data.get("type") != kind.TYPE:
        raise ContractError(f"expected {kind.TYPE} v{VERSION}, got {data.get('type')!r} v{data.get('v')!r}")
    return parse(data, kind)


def parse(data: dict[str, Any], kind: type[M]) -> M:
    """A message of ``kind`` from its decoded JSON object, or ContractError naming each wrong field."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ContractError(f"bad {kind.TYPE}: {problems}") from None


class JobMessage(Message):
    """Run this job: everything a consumer needs, none of it from the database."""

    TYPE: ClassVar[str] = "job"

    job_id: JobId
    runtime: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    input_key: Annotated[str, Field(pattern=r"^jobs/")]
    time_limit: Annotated[int, Field(gt=0)]
    memory_limit: Annotated[int, Field(gt=0)]
    datasets: list[str] = Field(default_factory=list)
    # MiB under /job; None from a sender older than disk limits: the consumer's default.
    disk_limit: Annotated[int, Field(gt=0)] | None = None


class JobEvent(Message):
    """A consumer's report on a job; the recorder applies it to the job's row."""

    TYPE: ClassVar[str] = "job_event"

    job_id: JobId
    status: str
    reason: str = ""
    consumer: str = ""
    attempt: Count = 0
    at: IsoTime = Field(default_factory=now_iso)
    event_id: Annotated[str, Field(min_length=1, max_length=32)] = Field(default_factory=_new_id)
    exit_code: int | None = None
    container_runtime: str | None = None
    output_key: str | None = None
    output_bytes: Count | None = None
    log_key: str | None = None
    wall_seconds: Seconds | None = None
    cpu_seconds: Seconds | None = None
    peak_memory_bytes: Count | None = None
    # How the job's image came about: "base" (no requirements), "cached" or "built".
    environment: Literal["base", "cached", "built"] | None = None


class CancelCommand(Message):
    """Stop this job wherever it runs."""

    TYPE: ClassVar[str] = "cancel"

    job_id: JobId


class Heartbeat(Message):
    """A consumer saying it is alive, and how busy."""

    TYPE: ClassVar[str] = "heartbeat"

    consumer: Annotated[str, Field(min_length=1, max_length=255)]
    runtime: str
    host: str
    slots: Count
    busy: Count
    at: IsoTime = Field(default_factory=now_iso)
    # Why the consumer takes no new job now (e.g. the Docker host's disk is short); "" when it does.
    paused: Annotated[str, Field(max_length=500)] = ""
