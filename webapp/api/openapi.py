"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json; a test holds it to the routes and the
responses the code really gives."""

from __future__ import annotations

import copy
from typing import Any

from storage.states import JobState
from webapp.api.openapi_datasets import DATASET_PATHS, DATASET_SCHEMAS
from webapp.job_fields import Schema, job_schema, nullable
from webapp.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE

VERSION = "1.0.0"

def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Schema]:
    reasons = {
        400: "a malformed request, or a missing or wrong CSRF token on a browser session",
        401: "no valid session or bearer token",
        404: "no such job, or another user's job",
        409: "the job is in a state that does not allow this, or the id prefix fits several of the caller's jobs",
        410: "the stored object is gone or damaged, or the retention clean-up removed the job's files",
        413: "the upload is over the size limit",
        416: "the byte range lies outside the log",
        422: "the zip or a limit breaks a rule, or the output quota is used up; the message says which",
        429: "too many of the caller's jobs are waiting to start (their queued limit)",
        503: "the object store or broker is unavailable; nothing was stored",
    }
    return {str(status): _json(_ref("Error"), reasons[status]) for status in statuses}


JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{4,32}$"},
    "description": "the job's id, or a unique prefix of it (4 characters or more); a prefix several of the caller's jobs share answers 409",
}

JOB = job_schema(
    {
        "failure": {
            "type": ["object", "null"],
            "description": "only from GET /jobs/{job_id}: why a failed, timed-out, out-of-memory, output-too-large or "
            "system-error job ended so, from the end of its log; null for any other state",
            "additionalProperties": False,
            "required": ["summary", "excerpt", "exception", "hint"],
            "properties": {
                "summary": {"type": "string", "description": "the state in words and the reason"},
                "excerpt": {"type": "string", "description": "the log's last lines (labqueue's own notes left out)"},
                "exception": nullable("string", description="in the excerpt: a traceback's final frame and message, or Octave's error: line"),
                "hint": nullable("string", description="what to do about a known cause"),
            },
        },
    }
)

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Job": JOB,
    "JobPage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "page", "per_page", "total", "pages"],
        "properties": {
            "items": {"type": "array", "items": _ref("Job")},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
        },
    },
    "OutputFiles": {
        "type": "object",
        "additionalProperties": False,
        "required": ["files", "total_files", "total_bytes"],
        "properties": {
            "files": {
                "type": "array",
                "description": "the first 1000 files of the output zip",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "size", "content_type", "url"],
                    "properties": {
                        "name": {"type": "string"},
                        "size": {"type": "integer", "minimum": 0},
                        "content_type": {"type": "string"},
                        "url": {"type": "string"},
                    },
                },
            },
            "total_files": {"type": "integer", "minimum": 0},
            "total_bytes": {"type": "integer", "minimum": 0},
        },
    },
    "Runtimes": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "label", "entry_file"],
                    "properties": {
                        "name": {"type": "string", "description": "what a job's runtime field takes"},
                        "label": {"type": "string", "description": "how the pages name it"},
                        "entry_file": {"type": "string", "description": "the file that selects it and that it runs"},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "description": "Everyone gets status and components; admins and the metrics token also get errors and consumers",
        "required": ["status", "components"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "components": {
                "type": "object",
                "required": ["database", "object_store", "broker", "consumers"],
                "properties": {name: {"type": "string", "enum": ["ok", "failing"]} for name in ("database", "object_store", "broker", "consumers")},
            },
            "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            "consumers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "runtime", "host", "slots", "busy", "last_seen"],
                    "properties": {
                        "name": {"type": "string"},
                        "runtime": {"type": "string"},
                        "host": {"type": "string"},
                        "slots": {"type": "integer"},
                        "busy": {"type": "integer"},
                        "last_seen": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
}

SUBMISSION: Schema = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "contentMediaType": "application/zip", "description": "the job zip (SPEC section 2)"},
        "runtime": {"type": "string", "description": "python or matlab; detected from the entry file when left out"},
        "datasets": {"type": "array", "items": {"type": "string"}, "description": "repeat the field for several"},
        "time_limit": {"type": "integer", "minimum": 1, "description": "seconds; the server's maximum applies"},
        "memory_limit": {"type": "integer", "minimum": 1, "description": "MiB; the server's maximum applies"},
        "disk_limit": {"type": "integer", "minimum": 1, "description": "MiB the job may write under /job; the server's maximum applies"},
        "name": {"type": "string", "maxLength": 200, "description": "a name for the job; the project's when left out"},
        "tags": {"type": "array", "items": {"type": "string"}, "description": "repeat the field, or separate tags with commas"},
    },
}

JOB_EDIT: Schema = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "name": {"type": "string", "maxLength": 200, "description": "empty: the project's name again"},
        "notes": {"type": "string", "maxLength": 10000},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 20},
    },
}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PATHS: dict[str, Schema] = {
    "/jobs": {
        "get": {
            "operationId": "listJobs",
            "summary": "The caller's jobs, newest first",
            "parameters": [
                _query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE}, "jobs per page"),
                _query("status", {"type": "string", "enum": [state.value for state in JobState]}, "only jobs in this state"),
                _query("project", {"type": "string"}, "only projects whose name contains this, any case"),
                _query("runtime", {"type": "string"}, "only jobs of this runtime"),
                _query("name", {"type": "string"}, "only jobs whose name contains this, any case"),
                _query("tag", {"type": "string"}, "only jobs with this tag"),
                _query("all", {"type": "string", "enum": ["1"]}, "admins: everyone's jobs"),
            ],
            "responses": {"200": _json(_ref("JobPage"), "a page of jobs"), **_errors(400, 401)},
        },
        "post": {
            "operationId": "submitJob",
            "summary": "Submit a job zip",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": SUBMISSION}}},
            "responses": {
                "201": {**_json(_ref("Job"), "the job, queued"), "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 413, 422, 429, 503),
            },
        },
    },
    "/jobs/{job_id}": {
        "parameters": [JOB_ID],
        "get": {
            "operationId": "getJob",
            "summary": "One job",
            "responses": {"200": _json(_ref("Job"), "the job"), **_errors(401, 404, 409)},
        },
        "patch": {
            "operationId": "editJob",
            "summary": "Change the job's name, notes or tags",
            "requestBody": {"required": True, "content": {"application/json": {"schema": JOB_EDIT}}},
            "responses": {"200": _json(_ref("Job"), "the job as changed"), **_errors(400, 401, 404, 409, 422)},
        },
    },
    "/jobs/{job_id}/log": {
        "parameters": [JOB_ID],
        "get": {
            "operationId": "getJobLog",
            "summary": "The log so far (stdout and stderr; head and tail kept, the cut marked, when over the limit)",
            "parameters": [
                {
                    "name": "Range",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "one byte range, e.g. bytes=1024-",
                }
            ],
            "responses": {
                "200": {"description": "the whole log", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "206": {"description": "the range asked for", "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401, 404, 410, 416, 503),
            },
        },
    },
    "/jobs/{job_id}/output": {
        "parameters": [JOB_ID],
        "get": {
            "operationId": "getJobOutput",
            "summary": "The output zip (what the job wrote under output/), streamed",
            "responses": {
                "200": {
                    "description": "the zip",
                    "content": {"application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}},
                },
                "302": {"description": "a presigned object-store URL, where the admin configured a public endpoint"},
                **_errors(401, 404, 409, 410, 503),
            },
        },
    },
    "/jobs/{job_id}/input": {
        "parameters": [JOB_ID],
        "get": {
            "operationId": "getJobInput",
            "summary": "The zip the job was submitted with, streamed",
            "responses": {
                "200": {
                    "description": "the zip",
                    "content": {"application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}},
                },
                **_errors(401, 404, 410, 503),
            },
        },
    },
    "/jobs/{job_id}/files": {
        "parameters": [JOB_ID],
        "get": {
            "operationId": "listJobFiles",
            "summary": "The files in the output zip, with sizes",
            "responses": {"200": _json(_ref("OutputFiles"), "the files"), **_errors(401, 404, 409, 410, 503)},
        },
    },
    "/jobs/{job_id}/files/{name}": {
        "parameters": [
            JOB_ID,
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "a path inside the output zip",
            },
        ],
        "get": {
            "operationId": "getJobFile",
            "summary": "One file of the output; images and text inline (sandboxed), the rest as a download",
            "parameters": [_query("download", {"type": "string", "enum": ["1"]}, "always as a download")],
            "responses": {
                "200": {"description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}},
                **_errors(401, 404, 410, 503),
            },
        },
    },
    "/jobs/{job_id}/cancel": {
        "parameters": [JOB_ID],
        "post": {
            "operationId": "cancelJob",
            "summary": "Cancel: a queued job never starts, a running one is stopped",
            "responses": {"202": _json(_ref("Job"), "cancelling"), **_errors(400, 401, 404, 409, 503)},
        },
    },
    "/jobs/{job_id}/resubmit": {
        "parameters": [JOB_ID],
        "post": {
            "operationId": "resubmitJob",
            "summary": "A new job from the same input zip, runtime, datasets and limits",
            "responses": {
                "201": {**_json(_ref("Job"), "the new job, queued"), "headers": {"Location": {"schema": {"type": "string"}}}},
                **_errors(400, 401, 404, 410, 422, 429, 503),
            },
        },
    },
    "/events": {
        "get": {
            "operationId": "jobEvents",
            "summary": "Server-sent events: `job` (a Job whenever it changes), `log` ({id, size, final}), `bye` (reconnect)",
            "description": (
                "The caller's unfinished jobs are always included; "
                "the stream ends after a few minutes and clients reconnect."
            ),
            "parameters": [
                {
                    "name": "job",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "style": "form",
                    "explode": True,
                    "description": "more jobs to watch",
                },
                _query("log", {"type": "string"}, "a job whose log size to announce"),
            ],
            "responses": {
                "200": {"description": "the stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                **_errors(401, 404),
            },
        },
    },
    "/runtimes": {
        "get": {
            "operationId": "runtimes",
            "summary": "The runtimes a job can ask for, each with the entry file at the project's root that selects it",
            "responses": {"200": _json(_ref("Runtimes"), "the runtimes, in the order the server checks them"), **_errors(401)},
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
        },
    },
    "/health": {
        "get": {
            "operationId": "health",
            "summary": "ok/failing per component; admins and the metrics token also get the errors and the consumers heard from in the last 30 s",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "all vital parts work"),
                "503": _json(_ref("Health"), "something vital is down"),
            },
        },
    },
}


def _ambiguous_prefixes(paths: dict[str, Schema]) -> dict[str, Schema]:
    """Any operation on a job takes an id prefix, so any of them may answer 409 for a prefix several jobs share."""
    paths = copy.deepcopy(paths)
    for item in paths.values():
        if JOB_ID in item.get("parameters", []):
            for method in ("get", "post", "patch"):
                if method in item:
                    item[method]["responses"].setdefault("409", _errors(409)["409"])
    return paths


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "labqueue",
            "version": VERSION,
            "description": (
                'Jobs for the lab\'s job server. Errors are {"error", "message"}. Browser sessions send the page\'s '
                "CSRF token as X-CSRFToken on requests that change state; bearer tokens need none."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": _ambiguous_prefixes(PATHS) | DATASET_PATHS,
        "components": {
            "schemas": SCHEMAS | DATASET_SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from the account page or `labqueue-admin create-token`",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
