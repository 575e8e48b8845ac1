"""The datasets pages: every dataset with its newest version, one dataset's versions, files and CSV previews, and a
form that adds a version (a new dataset, or a new version of one the user may write)."""

from __future__ import annotations

import csv
import io
import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from storage.dataset_layout import file_key, is_csv
from storage.dataset_uploads import UploadPart, create_version
from storage.datasets import DatasetError, get_dataset, list_datasets, ready_versions
from storage.objects import ObjectStoreError
from webapp.datasets import actor, archive_limits, too_large_message
from webapp.services import services

LOGGER = logging.getLogger(__name__)

bp = Blueprint("dataset_pages", __name__)

PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 10
MAX_PREVIEWS = 5


@bp.errorhandler(413)
def too_large(_exc: Exception):
    return render_template("error.html", message=too_large_message()), 413


class DatasetForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=64)])
    description = TextAreaField("Description", validators=[Length(max=2000)])
    files = MultipleFileField("Files, or a zip to unpack")


@bp.route("/datasets", methods=["GET", "POST"])
@login_required
def index():
    form = DatasetForm()
    error = None
    if form.validate_on_submit():
        parts = [UploadPart(upload.filename, upload.stream) for upload in form.files.data or [] if upload and upload.filename]
        svc = services()
        try:
            version = create_version(svc.db, svc.store, actor(), form.name.data.strip(), form.description.data or "", parts, archive_limits())
        except DatasetError as exc:
            error = str(exc)
        else:
            flash(f"Dataset {form.name.data}@{version.version} created.", "success")
            return redirect(url_for("dataset_pages.detail", name=form.name.data.strip(), version=version.version))
    elif form.errors:
        error = "; ".join(f"{form[name].label.text}: {', '.join(messages)}" for name, messages in form.errors.items())
    with services().db.session() as session:
        rows = [(dataset.name, dataset.description, dataset.owner.name if dataset.owner else "labqueue", latest) for dataset, latest in list_datasets(session)]
    limit = services().config.max_dataset_upload_bytes
    return render_template("pages/datasets.html", rows=rows, form=form, error=error, limit=limit), 422 if error else 200


@bp.route("/datasets/<name>")
@login_required
def detail(name: str):
    with services().db.session() as session:
        dataset = get_dataset(session, name)
        if dataset is None:
            abort(404, f"There is no dataset {name!r}.")
        versions = ready_versions(dataset)
        owner = dataset.owner.name if dataset.owner else "labqueue"
        may_write = current_user.is_admin or dataset.owner_id == current_user.id
        description = dataset.description
    wanted = request.args.get("version")
    # get_dataset found at least one ready version, so versions[0], the newest, exists
    chosen = next((v for v in versions if str(v.version) == wanted), None) if wanted else versions[0]
    if chosen is None:
        abort(404, f"Dataset {name!r} has no version {wanted}.")
    csv_files = [entry for entry in chosen.files if is_csv(entry["path"])][:MAX_PREVIEWS]
    previews = {entry["path"]: _preview(name, chosen.version, entry["path"], entry["size"]) for entry in csv_files}
    form = DatasetForm(name=name)
    return render_template(
        "pages/dataset.html",
        name=name,
        description=description,
        owner=owner,
        versions=versions,
        chosen=chosen,
        previews=previews,
        may_write=may_write,
        form=form,
    )


def _preview(name: str, version: int, path: str, size: int) -> list[list[str]] | None:
    """The header and first rows of a CSV file, from its first bytes only; None when the store cannot be read."""
    if size == 0:
        return []
    try:
        head = b"".join(services().store.iter_object(file_key(name, version, path), 0, min(size, PREVIEW_BYTES)))
    except ObjectStoreError:
        LOGGER.warning("no preview of %s@%d %s: object store unavailable", name, version, path)
        return None
    text = head.decode("utf-8-sig", errors="replace")
    if size > PREVIEW_BYTES:
        text = text.rpartition("\n")[0]  # the last line may be cut
    return [row for _, row in zip(range(PREVIEW_ROWS + 1), csv.reader(io.StringIO(text)), strict=False)]


def dataset_choices() -> list[tuple[str, str]]:
    """The upload form's dataset picker: each dataset by name, labelled with its newest version."""
    with services().db.session() as session:
        return [(dataset.name, f"{dataset.name} (v{latest.version})") for dataset, latest in list_datasets(session)]
