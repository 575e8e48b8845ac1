"""A job's API fields are written once (webapp/job_fields.py): what the API sends is what the OpenAPI schema says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from storage.models import Job, User
from webapp.api.openapi import openapi_document
from webapp.job_fields import JOB_FIELDS, JobField, job_schema, job_to_dict

STARTED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def finished_job() -> Job:
    return Job(
        id="0123456789abcdef0123456789abcdef",
        owner=User(name="ada"),
        project="análise",
        name="",
        notes="",
        tags=["baseline"],
        runtime="python",
        status="succeeded",
        datasets=["line7@2"],
        time_limit=60,
        memory_limit=512,
        disk_limit=None,
        input_size=1234,
        input_sha256="ab" * 32,
        input_key="jobs/x/input.zip",
        submitted_at=STARTED - timedelta(seconds=2.5),
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=4),
        exit_code=0,
        reason="exit code 0",
        consumer="c1",
        container_runtime="runc",
        attempt=1,
        output_key="jobs/x/output.zip",
        output_bytes=99,
        log_key="jobs/x/log.txt",
        wall_seconds=4.0,
        cpu_seconds=0.5,
        peak_memory_bytes=2**20,
    )


def job_schema_document() -> dict:
    """The Job schema with the document's components beside it, so its references resolve."""
    document = openapi_document()
    return {**document["components"]["schemas"]["Job"], "components": document["components"]}


def test_a_jobs_json_is_valid_against_the_published_schema() -> None:
    shown = job_to_dict(finished_job())
    jsonschema.validate(shown, job_schema_document())
    assert shown["name"] == "análise" and shown["short_id"] == "01234567" and shown["usage"]["queue_wait_seconds"] == 2.5
    assert shown["submitted_at"] == "2026-12-03T08:59:57.500000Z"


def test_the_schema_requires_every_field_the_api_sends_and_no_other() -> None:
    schema = openapi_document()["components"]["schemas"]["Job"]
    assert schema["required"] == [field.name for field in JOB_FIELDS] == list(job_to_dict(finished_job()))
    assert set(schema["properties"]) - set(schema["required"]) == {"failure"}  # GET /jobs/<id> alone adds it


def test_a_field_added_to_the_table_reaches_the_json_and_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = JobField("environment", {"type": ["string", "null"]}, lambda job: job.environment)
    monkeypatch.setattr("webapp.job_fields.JOB_FIELDS", (*JOB_FIELDS, extra))
    assert "environment" in job_to_dict(finished_job())
    assert "environment" in job_schema({})["required"]
