"""The researcher's pages: upload, results, one job with its outputs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from storage.models import Job
from storage.runtimes import RUNTIMES, public_runtimes
from storage.states import JobState, UnknownStateError
from storage.units import human_bytes
from webapp.downloads import expired_message, log_response, member_response, output_response
from webapp.formatting import human_seconds, job_seconds, utc
from webapp.job_failure import failure_of
from webapp.jobnotes import MAX_NAME, MAX_NOTES, MAX_TAG, MAX_TAGS, JobText, NotesError, clean_name, clean_notes, clean_tags
from webapp.jobs import (
    JobFilter,
    Submission,
    SubmitError,
    cancel_job,
    edit_job_text,
    get_job_or_404,
    list_jobs,
    resubmit_job,
    submit_job,
    visible_job,
)
from webapp.outputs import csv_preview, safe_listing
from webapp.pages.datasets import dataset_choices
from webapp.paging import MAX_PAGE, clamped_arg
from webapp.services import services
from webapp.uploads import staged_input

bp = Blueprint("pages", __name__)
bp.add_app_template_filter(human_bytes)
bp.add_app_template_filter(human_seconds)
bp.add_app_template_filter(job_seconds)
bp.add_app_template_filter(utc)

PER_PAGE = 25
MAX_IMAGE_PREVIEWS = 12
MAX_CSV_PREVIEWS = 5


class UploadForm(FlaskForm):
    file = FileField("Project zip", validators=[FileRequired("choose a zip file")])
    runtime = SelectField("Runtime", default="")
    time_limit = IntegerField("Time limit (seconds)", validators=[Optional(), NumberRange(min=1)])
    memory_limit = IntegerField("Memory limit (MiB)", validators=[Optional(), NumberRange(min=16)])
    disk_limit = IntegerField("Disk limit (MiB)", validators=[Optional(), NumberRange(min=16)])
    # Names (the newest version when the job is submitted); the web layer resolves and checks them.
    datasets = SelectMultipleField("Datasets", choices=[], validate_choice=False)
    name = StringField("Name", validators=[Optional(), Length(max=MAX_NAME)], description="the project's name when left empty")
    tags = StringField("Tags", validators=[Optional(), Length(max=MAX_TAGS * (MAX_TAG + 1))], description="separated by commas")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # From the runtime table as it is now, like the archive check that decides.
        self.runtime.choices = [("", "detect from the zip")] + [(rt.name, f"{rt.label} ({rt.entry_file})") for rt in RUNTIMES.values()]


class NotesForm(FlaskForm):
    """The job page's name, notes and tags, editable whatever the job's state."""

    name = StringField("Name", validators=[Optional(), Length(max=MAX_NAME)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=MAX_NOTES)])
    tags = StringField("Tags", validators=[Optional()], description="separated by commas")


class CancelForm(FlaskForm):
    """Cancel and resubmit post only the CSRF token."""


@bp.route("/")
def index():
    return redirect(url_for("pages.results" if current_user.is_authenticated else "auth.login"))


@bp.route("/upload", methods=["GET", "POST"])
@login_required
def upload():
    form = UploadForm()
    form.datasets.choices = dataset_choices()
    error = None
    if form.validate_on_submit():
        try:
            submission = Submission(
                upload=staged_input(form.file.data),
                filename=form.file.data.filename or "project.zip",
                runtime=form.runtime.data,
                time_limit=str(form.time_limit.data) if form.time_limit.data else None,
                memory_limit=str(form.memory_limit.data) if form.memory_limit.data else None,
                disk_limit=str(form.disk_limit.data) if form.disk_limit.data else None,
                datasets=form.datasets.data or [],
                name=form.name.data,
                tags=form.tags.data,
            )
            job = submit_job(services(), current_user.id, submission)
        except SubmitError as exc:
            error = str(exc)
        else:
            flash(f"Job {job.name} queued.", "success")
            return redirect(url_for("pages.job", job_id=job.id))
    elif form.errors:
        error = "; ".join(f"{form[name].label.text}: {', '.join(messages)}" for name, messages in form.errors.items())
    status = 422 if error else 200
    page = render_template("pages/upload.html", form=form, error=error, config=services().config, runtimes=public_runtimes())
    return page, status


@bp.route("/jobs")
@login_required
def results():
    filters = JobFilter(
        status=request.args.get("status") or None,
        project=(request.args.get("project") or "").strip() or None,
        runtime=request.args.get("runtime") or None,
        name=(request.args.get("name") or "").strip() or None,
        tag=(request.args.get("tag") or "").strip() or None,
    )
    page = clamped_arg("page", 1, 1, MAX_PAGE)
    try:
        with services().db.session() as session:
            jobs, total = list_jobs(session, current_user.id, filters, page, PER_PAGE)
            pages = max(1, -(-total // PER_PAGE))
            if page > pages:  # past the end (or garbage): the last page, not an empty one
                page = pages
                jobs, total = list_jobs(session, current_user.id, filters, page, PER_PAGE)
    except UnknownStateError:
        abort(400, description=f"unknown status {filters.status!r}")
    return render_template(
        "pages/results.html",
        jobs=jobs,
        filters=filters,
        page=page,
        pages=pages,
        total=total,
        query={name: value for name, value in vars(filters).items() if value},
        states=[s.value for s in JobState],
        runtimes=services().publisher.config.runtimes,
    )


def _outputs_context(record: Job) -> dict:
    """What the outputs section shows: the file list, image previews and the first rows of CSV files."""
    if record.output_key is None:
        return {"listing": None, "listing_error": None, "images": [], "csvs": {}}
    if record.expired_at is not None:
        return {"listing": None, "listing_error": expired_message(record), "images": [], "csvs": {}}
    store = services().store
    listing, listing_error = safe_listing(store, record.output_key)
    images = [f for f in listing.files if f.is_image][:MAX_IMAGE_PREVIEWS] if listing else []
    csv_names = [f.name for f in listing.files if f.is_csv][:MAX_CSV_PREVIEWS] if listing else []
    csvs = csv_preview(store, record.output_key, csv_names) if csv_names else {}
    return {"listing": listing, "listing_error": listing_error, "images": images, "csvs": csvs}


@bp.route("/jobs/<job_id>")
@login_required
def job(job_id: str):
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        owner = record.owner.name
        failure = failure_of(services().store, session, record)
    notes_form = NotesForm(formdata=None, name=record.name, notes=record.notes, tags=", ".join(record.tags or []))
    return render_template(
        "pages/job.html",
        job=record,
        owner=owner,
        failure=failure,
        cancel_form=CancelForm(),
        notes_form=notes_form,
        **_outputs_context(record),
    )


@bp.post("/jobs/<job_id>/notes")
@login_required
def notes(job_id: str):
    form = NotesForm()
    if not form.validate_on_submit():
        flash("; ".join(f"{form[name].label.text}: {', '.join(messages)}" for name, messages in form.errors.items()) or "the form expired; reload the page", "error")
        return redirect(url_for("pages.job", job_id=job_id))
    try:
        text = JobText(name=clean_name(form.name.data or ""), notes=clean_notes(form.notes.data or ""), tags=clean_tags(form.tags.data or ""))
    except NotesError as exc:
        flash(str(exc), "error")
        return redirect(url_for("pages.job", job_id=job_id))
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        edit_job_text(record, text)
        job_id = record.id
    flash("Saved the name, notes and tags.", "success")
    return redirect(url_for("pages.job", job_id=job_id))


@bp.route("/jobs/<job_id>/outputs")
@login_required
def outputs(job_id: str):
    """The outputs section alone, for the page to fetch when the job ends while it is open."""
    record = visible_job(job_id)
    return render_template("pages/_outputs.html", job=record, **_outputs_context(record))


@bp.route("/jobs/<job_id>/files/<path:name>")
@login_required
def output_file(job_id: str, name: str):
    record = visible_job(job_id)
    return member_response(record, name, download=request.args.get("download") == "1")


@bp.post("/jobs/<job_id>/resubmit")
@login_required
def resubmit(job_id: str):
    if not CancelForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and try again")
    record = visible_job(job_id)
    try:
        job = resubmit_job(services(), current_user.id, record)
    except SubmitError as exc:
        flash(str(exc), "error")
        return redirect(url_for("pages.job", job_id=job_id))
    flash(f"Resubmitted {job.name} as a new job.", "success")
    return redirect(url_for("pages.job", job_id=job.id))


@bp.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    if not CancelForm().validate_on_submit():
        abort(400, description="the form expired; reload the page and try again")
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        try:
            cancelled = cancel_job(services(), session, record)
        except SubmitError as exc:
            flash(str(exc), "error")
        else:
            flash("Cancelling the job." if cancelled else f"The job is already {record.status}.", "success" if cancelled else "error")
    return redirect(url_for("pages.job", job_id=job_id))


@bp.route("/jobs/<job_id>/log.txt")
@login_required
def log(job_id: str):
    record = visible_job(job_id)
    return log_response(record)


@bp.route("/jobs/<job_id>/output.zip")
@login_required
def output(job_id: str):
    record = visible_job(job_id)
    return output_response(record)


