"""The dataset endpoints of the REST API: list, describe, add a version from files or a zip, append sensor readings."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import HTTPException

from storage.dataset_readings import ingest_readings
from storage.dataset_uploads import UploadPart, create_version
from storage.datasets import DatasetError, get_dataset, list_datasets, ready_versions
from storage.models import Dataset, DatasetVersion
from storage.readings import Checked
from webapp.api import routes as api
from webapp.datasets import actor, archive_limits, too_large_message
from webapp.jobs import iso
from webapp.services import services

bp = Blueprint("datasets_api", __name__, url_prefix="/api/v1")
bp.before_request(api.require_login)

STATUS = {"no_file": 400, "forbidden": 403, "not_found": 404, "busy": 409, "cannot_append": 409, "storage_unavailable": 503}


@bp.errorhandler(DatasetError)
def dataset_error(exc: DatasetError):
    return api.error(STATUS.get(exc.code, 422), exc.code, str(exc))


@bp.errorhandler(413)  # by code: the app's own 413 handler (the job upload limit) would win over a class handler
def too_large(_exc: HTTPException):
    return api.error(413, "too_large", too_large_message())


def version_to_dict(name: str, version: DatasetVersion) -> dict[str, Any]:
    return {
        "name": name,
        "version": version.version,
        "ref": f"{name}@{version.version}",
        "description": version.description,
        "created_by": version.created_by,
        "created_at": iso(version.ready_at),
        "parent": version.parent_version,
        "file_count": version.file_count,
        "total_bytes": version.total_bytes,
        "files": version.files,
    }


def dataset_to_dict(dataset: Dataset, latest: DatasetVersion) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "description": dataset.description,
        "owner": dataset.owner.name if dataset.owner else None,
        "created_at": iso(dataset.created_at),
        "latest_version": latest.version,
        "updated_at": iso(latest.ready_at),
        "file_count": latest.file_count,
        "total_bytes": latest.total_bytes,
    }


@bp.get("/datasets")
def datasets_index():
    with services().db.session() as session:
        return jsonify(items=[dataset_to_dict(dataset, latest) for dataset, latest in list_datasets(session)])


@bp.get("/datasets/<name>")
def dataset_detail(name: str):
    with services().db.session() as session:
        dataset = get_dataset(session, name)
        if dataset is None:
            return api.error(404, "not_found", f"there is no dataset {name!r}")
        versions = ready_versions(dataset)
        return jsonify(dataset_to_dict(dataset, versions[0]) | {"versions": [version_to_dict(name, v) for v in versions]})


@bp.post("/datasets")
def create_dataset():
    name = (request.form.get("name") or "").strip()
    if not name:
        return api.error(400, "bad_request", "send the dataset's name as the form field 'name'")
    parts = [UploadPart(upload.filename, upload.stream) for upload in request.files.getlist("file") if upload.filename]
    svc = services()
    version = create_version(svc.db, svc.store, actor(), name, request.form.get("description") or "", parts, archive_limits())
    return jsonify(version_to_dict(name, version)), 201, {"Location": f"/api/v1/datasets/{name}"}


@bp.post("/datasets/<name>/readings")
def append_readings(name: str):
    skip_invalid = (request.args.get("skip_invalid") or "").lower() in {"1", "true", "yes"}
    svc = services()
    if request.is_json:
        result = ingest_readings(svc.db, svc.store, actor(), name, records=request.get_json(), skip_invalid=skip_invalid)
        where = "record"
    else:
        upload = request.files.get("file")
        if upload is None:
            return api.error(400, "no_file", "send JSON readings (Content-Type: application/json) or a CSV as the multipart field 'file'")
        result = ingest_readings(svc.db, svc.store, actor(), name, csv_file=upload.stream, skip_invalid=skip_invalid)
        where = "line"
    report = _report(result.checked, where)
    if result.version is None:
        checked = result.checked
        if checked.rejected and not skip_invalid:
            message = (f"{checked.rejected} of {checked.rejected + checked.accepted} readings are invalid; nothing was stored "
                       f"(send ?skip_invalid=1 to store the {checked.accepted} valid ones)")
        else:
            message = "there are no valid readings; nothing was stored"
        return jsonify(error="invalid_readings", message=message, **report), 422
    return jsonify(version=version_to_dict(name, result.version), **report), 201, {"Location": f"/api/v1/datasets/{name}"}


def _report(checked: Checked, where: str) -> dict[str, Any]:
    return {
        "accepted": checked.accepted,
        "rejected": checked.rejected,
        "errors": [{where: row.where, "reason": row.reason} for row in checked.errors],
    }
