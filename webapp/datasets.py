"""Datasets as the web sees them, for the API and the pages alike: who is acting, how large an upload may be, and
what a refused one is told."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from storage.archive import ArchiveLimits
from storage.datasets import Actor
from webapp.services import services

MIB = 2**20
JSON_READINGS_MAX_BYTES = 64 * MIB  # JSON is parsed in memory; larger batches come as a CSV file
UNPACK_FACTOR = 8  # a dataset zip may unpack to this many times the upload limit (per-entry bomb checks still apply)
UPLOAD_ENDPOINTS = {"datasets_api.create_dataset", "datasets_api.append_readings", "dataset_pages.index"}


def init_app(app: Flask) -> None:
    """Register the upload limit of dataset requests; call before CSRFProtect.init_app, whose check reads the form."""
    app.before_request(_dataset_upload_limit)


def _dataset_upload_limit() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        limit = services().config.max_dataset_upload_bytes + MIB
        request.max_content_length = JSON_READINGS_MAX_BYTES if request.is_json else limit


def archive_limits() -> ArchiveLimits:
    limit = services().config.max_dataset_upload_bytes
    return ArchiveLimits(max_upload_bytes=limit, max_total_uncompressed=UNPACK_FACTOR * limit)


def actor() -> Actor:
    return Actor(current_user.id, current_user.name, current_user.is_admin)


def too_large_message() -> str:
    if request.is_json:
        return f"JSON readings are limited to {JSON_READINGS_MAX_BYTES // MIB} MiB; send larger batches as a CSV file"
    return f"a dataset upload is limited to {services().config.max_dataset_upload_bytes // MIB} MiB"
