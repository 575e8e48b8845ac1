"""The dataset part of the OpenAPI document (webapp/api/openapi.py merges it): list, describe, add a version, append
readings."""

from __future__ import annotations

from typing import Any

from storage.dataset_layout import NAME_PATTERN

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(**reasons: str) -> dict[str, Schema]:
    """Error answers by status (given as s400=...), each with what it means for datasets."""
    return {status.removeprefix("s"): _json(_ref("Error"), reason) for status, reason in reasons.items()}


def _object(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


INTEGER = {"type": "integer", "minimum": 0}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "pattern": NAME_PATTERN.pattern}}

FILE = _object(
    ["path", "size", "sha256", "rows"],
    path={"type": "string", "description": "the file's path below /data/<name>/"},
    size=INTEGER,
    sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
    rows={"type": ["integer", "null"], "minimum": 0, "description": "data rows below the header, for CSV files"},
)
SUMMARY_FIELDS: dict[str, Schema] = {
    "name": {"type": "string"},
    "description": {"type": "string"},
    "owner": {"type": ["string", "null"], "description": "null for datasets labqueue made (the demo)"},
    "created_at": {"type": "string", "format": "date-time"},
    "latest_version": {"type": "integer", "minimum": 1},
    "updated_at": {"type": "string", "format": "date-time"},
    "file_count": INTEGER,
    "total_bytes": INTEGER,
}
BAD_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason"],
    "properties": {
        "line": {"type": "integer", "minimum": 2, "description": "CSV line (the header is line 1)"},
        "record": {"type": "integer", "minimum": 1, "description": "JSON record, counted from 1"},
        "reason": {"type": "string"},
    },
}
REPORT_FIELDS: dict[str, Schema] = {
    "accepted": INTEGER,
    "rejected": INTEGER,
    "errors": {"type": "array", "items": BAD_ROW, "description": "the first 1000 bad rows"},
}
READING = _object(
    ["equipment_id", "timestamp", "value"],
    equipment_id={"type": "string"},
    timestamp={"type": "string", "description": "ISO 8601 date and time with its UTC offset"},
    value={"type": "number"},
)

DATASET_SCHEMAS: dict[str, Schema] = {
    "DatasetFile": FILE,
    "DatasetVersion": _object(
        ["name", "version", "ref", "description", "created_by", "created_at", "parent", "file_count", "total_bytes", "files"],
        name={"type": "string"},
        version={"type": "integer", "minimum": 1},
        ref={"type": "string", "description": "name@version, as jobs record it"},
        description={"type": "string"},
        created_by={"type": "string"},
        created_at={"type": "string", "format": "date-time"},
        parent={"type": ["integer", "null"], "description": "the version readings were appended to"},
        file_count=INTEGER,
        total_bytes=INTEGER,
        files={"type": "array", "items": _ref("DatasetFile")},
    ),
    "DatasetSummary": _object(list(SUMMARY_FIELDS), **SUMMARY_FIELDS),
    "Dataset": _object([*SUMMARY_FIELDS, "versions"], **SUMMARY_FIELDS, versions={"type": "array", "items": _ref("DatasetVersion")}),
    "DatasetList": _object(["items"], items={"type": "array", "items": _ref("DatasetSummary")}),
    "ReadingsStored": _object([*REPORT_FIELDS, "version"], **REPORT_FIELDS, version=_ref("DatasetVersion")),
    "ReadingsRefused": _object(
        ["error", "message", *REPORT_FIELDS], error={"type": "string", "const": "invalid_readings"}, message={"type": "string"}, **REPORT_FIELDS
    ),
}

LOCATION = {"Location": {"schema": {"type": "string"}}}

DATASET_PATHS: dict[str, Schema] = {
    "/datasets": {
        "get": {
            "operationId": "listDatasets",
            "summary": "Every dataset with its newest version",
            "responses": {"200": _json(_ref("DatasetList"), "the datasets, by name"), **_errors(s401="no valid session or bearer token")},
        },
        "post": {
            "operationId": "addDatasetVersion",
            "summary": "A new dataset, or a new version of one: exactly the files sent (a zip is unpacked)",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["name", "file"],
                            "properties": {
                                "name": {"type": "string", "pattern": NAME_PATTERN.pattern},
                                "file": {"type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"}},
                                "description": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {**_json(_ref("DatasetVersion"), "the new version"), "headers": LOCATION},
                **_errors(
                    s400="no name or no file, or a missing CSRF token on a browser session",
                    s401="no valid session or bearer token",
                    s403="the dataset belongs to someone else (owners and admins add versions)",
                    s409="another version is being added right now",
                    s413="the upload is over the dataset limit",
                    s422="a bad name, file name, duplicate, or a zip that breaks a rule; the message says which",
                    s503="the object store is unavailable; nothing was stored",
                ),
            },
        },
    },
    "/datasets/{name}": {
        "parameters": [NAME],
        "get": {
            "operationId": "getDataset",
            "summary": "One dataset with all its versions and their files, newest first",
            "responses": {
                "200": _json(_ref("Dataset"), "the dataset"),
                **_errors(s401="no valid session or bearer token", s404="no such dataset"),
            },
        },
    },
    "/datasets/{name}/readings": {
        "parameters": [NAME],
        "post": {
            "operationId": "appendReadings",
            "summary": "Append sensor readings as a new version (readings.csv grows, the other files are carried over)",
            "parameters": [
                {
                    "name": "skip_invalid",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["1", "true", "yes"]},
                    "description": "store the good rows even if some are bad (they are reported)",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "contentMediaType": "text/csv", "description": "equipment_id,timestamp,value"}},
                        }
                    },
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"type": "array", "items": READING},
                                _object(["records"], records={"type": "array", "items": READING}),
                            ]
                        }
                    },
                },
            },
            "responses": {
                "201": {**_json(_ref("ReadingsStored"), "the readings were stored as a new version"), "headers": LOCATION},
                "422": _json(
                    {"oneOf": [_ref("ReadingsRefused"), _ref("Error")]},
                    "bad rows (listed; nothing stored), no good rows, or an unusable header or body",
                ),
                **_errors(
                    s400="no file and no JSON, malformed JSON, or a missing CSRF token on a browser session",
                    s401="no valid session or bearer token",
                    s403="the dataset belongs to someone else",
                    s409="another version is being added right now, or readings.csv has other columns",
                    s413="over the limit (64 MiB of JSON; CSV up to the dataset limit)",
                    s503="the object store is unavailable; nothing was stored",
                ),
            },
        },
    },
}
