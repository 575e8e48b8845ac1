"""A job as the API shows it, written once: each field's JSON schema beside the value it takes from the row.

The API's JSON (``job_to_dict``: the job endpoints, the live streams) and the OpenAPI document's ``Job`` schema are
both read from ``JOB_FIELDS``, so a field added, renamed or retyped here changes both, and cannot reach one alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.models import Job
from storage.states import JobState
from webapp.jobnotes import MAX_NAME, MAX_NOTES, MAX_TAG, MAX_TAGS
from webapp.jobs import SHORT_ID, iso, queue_wait_seconds

Schema = dict[str, Any]


def nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def object_schema(properties: dict[str, Schema], **extra: Any) -> Schema:
    """A closed object whose every property is always present (null where it has no value)."""
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties, **extra}


@dataclass(frozen=True)
class JobField:
    name: str
    schema: Schema
    value: Callable[[Job], Any]


USAGE_SCHEMA = object_schema(
    {
        "queue_wait_seconds": nullable("number", description="from submission to start"),
        "wall_seconds": nullable("number"),
        "cpu_seconds": nullable("number"),
        "peak_memory_bytes": nullable("integer"),
    }
)


def _usage(job: Job) -> dict[str, Any]:
    return {
        "queue_wait_seconds": queue_wait_seconds(job),
        "wall_seconds": job.wall_seconds,
        "cpu_seconds": job.cpu_seconds,
        "peak_memory_bytes": job.peak_memory_bytes,
    }


JOB_FIELDS: tuple[JobField, ...] = (
    JobField("id", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, lambda job: job.id),
    JobField("status", {"type": "string", "enum": [state.value for state in JobState]}, lambda job: job.status),
    JobField(
        "project",
        {"type": "string", "description": "the zip's top folder, or its file name without .zip, as written"},
        lambda job: job.project,
    ),
    JobField(
        "name",
        {"type": "string", "maxLength": MAX_NAME, "description": "the researcher's name for the job; the project's by default"},
        lambda job: job.name or job.project,
    ),
    JobField(
        "short_id",
        {"type": "string", "pattern": f"^[0-9a-f]{{{SHORT_ID}}}$", "description": f"the id's first {SHORT_ID} characters, as lists show it"},
        lambda job: job.id[:SHORT_ID],
    ),
    JobField("notes", {"type": "string", "maxLength": MAX_NOTES}, lambda job: job.notes or ""),
    JobField("tags", {"type": "array", "items": {"type": "string", "maxLength": MAX_TAG}, "maxItems": MAX_TAGS}, lambda job: job.tags or []),
    JobField("runtime", {"type": "string", "examples": ["python", "matlab"]}, lambda job: job.runtime),
    JobField("datasets", {"type": "array", "items": {"type": "string"}}, lambda job: job.datasets or []),
    JobField("owner", nullable("string"), lambda job: job.owner.name if job.owner else None),
    JobField("submitted_at", {"type": "string", "format": "date-time"}, lambda job: iso(job.submitted_at)),
    JobField("started_at", nullable("string", format="date-time"), lambda job: iso(job.started_at)),
    JobField("finished_at", nullable("string", format="date-time"), lambda job: iso(job.finished_at)),
    JobField("exit_code", nullable("integer"), lambda job: job.exit_code),
    JobField("reason", {"type": "string", "description": "one line on why the job is in its state"}, lambda job: job.reason),
    JobField("attempt", {"type": "integer", "minimum": 0}, lambda job: job.attempt),
    JobField("consumer", nullable("string", description="the consumer that ran it"), lambda job: job.consumer),
    JobField("container_runtime", nullable("string", description="runc or runsc (gVisor)"), lambda job: job.container_runtime),
    JobField("time_limit", {"type": "integer", "minimum": 1, "description": "wall-clock seconds"}, lambda job: job.time_limit),
    JobField("memory_limit", {"type": "integer", "minimum": 1, "description": "MiB"}, lambda job: job.memory_limit),
    JobField(
        "disk_limit",
        nullable("integer", minimum=1, description="MiB the job may write under /job; null for jobs from before disk limits"),
        lambda job: job.disk_limit,
    ),
    JobField("input_size", {"type": "integer", "minimum": 0}, lambda job: job.input_size),
    JobField("input_sha256", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, lambda job: job.input_sha256),
    JobField("output_key", nullable("string"), lambda job: job.output_key),
    JobField("output_bytes", nullable("integer"), lambda job: job.output_bytes),
    JobField("log_key", nullable("string"), lambda job: job.log_key),
    JobField(
        "expired_at",
        nullable("string", format="date-time", description="when retention removed the job's files"),
        lambda job: iso(job.expired_at),
    ),
    JobField("usage", USAGE_SCHEMA, _usage),
)


def job_to_dict(job: Job) -> dict[str, Any]:
    return {field.name: field.value(job) for field in JOB_FIELDS}


def job_schema(detail_only: dict[str, Schema]) -> Schema:
    """The ``Job`` schema: every field of the table, always present, plus those only one endpoint adds."""
    schema = object_schema({field.name: field.schema for field in JOB_FIELDS})
    schema["properties"] |= detail_only
    return schema
