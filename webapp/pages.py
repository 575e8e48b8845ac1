"""The researcher's pages: upload, results, one job."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from storage.states import JobState, UnknownStateError
from webapp.downloads import log_response, output_response
from webapp.jobs import Submission, SubmitError, cancel_job, get_job_or_404, list_jobs, submit_job
from webapp.services import services

bp = Blueprint("pages", __name__)

PER_PAGE = 25


class UploadForm(FlaskForm):
    file = FileField("Project zip", validators=[FileRequired("choose a zip file")])
    runtime = SelectField("Runtime", choices=[("", "detect from the zip"), ("python", "Python (code.py)"), ("matlab", "MATLAB / Octave (code.m)")], default="")
    time_limit = IntegerField("Time limit (seconds)", validators=[Optional(), NumberRange(min=1)])
    memory_limit = IntegerField("Memory limit (MiB)", validators=[Optional(), NumberRange(min=16)])


class CancelForm(FlaskForm):
    pass


@bp.route("/")
def index():
    return redirect(url_for("pages.results" if current_user.is_authenticated else "auth.login"))


@bp.route("/upload", methods=["GET", "POST"])
@login_required
def upload():
    form = UploadForm()
    error = None
    if form.validate_on_submit():
        submission = Submission(
            file=form.file.data.stream,
            filename=form.file.data.filename or "project.zip",
            runtime=form.runtime.data,
            time_limit=str(form.time_limit.data) if form.time_limit.data else None,
            memory_limit=str(form.memory_limit.data) if form.memory_limit.data else None,
            datasets=[],
        )
        try:
            job = submit_job(services(), current_user.id, submission)
        except SubmitError as exc:
            error = str(exc)
        else:
            flash(f"Job {job.project} queued.", "success")
            return redirect(url_for("pages.job", job_id=job.id))
    elif form.errors:
        error = "; ".join(f"{form[name].label.text}: {', '.join(messages)}" for name, messages in form.errors.items())
    status = 422 if error else 200
    return render_template("upload.html", form=form, error=error, config=services().config), status


@bp.route("/jobs")
@login_required
def results():
    status = request.args.get("status") or None
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    try:
        with services().db.session() as session:
            jobs, total = list_jobs(session, current_user.id, status, page, PER_PAGE)
    except UnknownStateError:
        abort(400)
    pages = max(1, -(-total // PER_PAGE))
    return render_template("results.html", jobs=jobs, status=status, page=page, pages=pages, states=[s.value for s in JobState])


@bp.route("/jobs/<job_id>")
@login_required
def job(job_id: str):
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    return render_template("job.html", job=record, cancel_form=CancelForm())


@bp.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    if not CancelForm().validate_on_submit():
        abort(400)
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
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    return log_response(record)


@bp.route("/jobs/<job_id>/output.zip")
@login_required
def output(job_id: str):
    with services().db.session() as session:
        record = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    if record.output_key is None:
        abort(404)
    return output_response(record)
