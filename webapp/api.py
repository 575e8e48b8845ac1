"""The REST API under /api/v1: JSON in and out, errors as {"error", "message"}."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from storage.states import UnknownStateError
from webapp.downloads import log_response, output_response
from webapp.health import check
from webapp.jobs import Submission, SubmitError, cancel_job, get_job_or_404, job_to_dict, list_jobs, submit_job
from webapp.services import services

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf = CSRFProtect()

MAX_PER_PAGE = 200


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error=code, message=message), status


@bp.before_request
def require_login():
    """Tokens need no CSRF token; a browser session does, on anything that changes state."""
    if request.endpoint == "api.health":
        return None
    if not current_user.is_authenticated:
        return error(401, "unauthorized", "log in, or send 'Authorization: Bearer <token>'")
    if not current_user.via_token and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    return None


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    code = {404: "not_found", 413: "too_large", 405: "method_not_allowed", 400: "bad_request"}.get(exc.code or 500, "error")
    message = "no such job" if exc.code == 404 else exc.description
    return error(exc.code or 500, code, message)


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    return error(400, "csrf", exc.description)


@bp.errorhandler(SubmitError)
def submit_error(exc: SubmitError):
    return error(exc.status, exc.code, str(exc))


def _page_args() -> tuple[int, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
        per_page = min(MAX_PER_PAGE, max(1, int(request.args.get("per_page", 50))))
    except ValueError:
        raise SubmitError(400, "bad_request", "page and per_page must be whole numbers") from None
    return page, per_page


@bp.post("/jobs")
def create_job():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error(400, "no_file", "send the zip as the multipart field 'file'")
    submission = Submission(
        file=upload.stream,
        filename=upload.filename,
        runtime=request.form.get("runtime"),
        time_limit=request.form.get("time_limit"),
        memory_limit=request.form.get("memory_limit"),
        datasets=request.form.getlist("datasets"),
    )
    job = submit_job(services(), current_user.id, submission)
    with services().db.session() as session:
        job = get_job_or_404(session, job.id, current_user.id)
        return jsonify(job_to_dict(job)), 201, {"Location": f"/api/v1/jobs/{job.id}"}


@bp.get("/jobs")
def jobs_index():
    page, per_page = _page_args()
    everyone = request.args.get("all") == "1" and current_user.is_admin
    try:
        with services().db.session() as session:
            jobs, total = list_jobs(session, None if everyone else current_user.id, request.args.get("status"), page, per_page)
            items = [job_to_dict(job) for job in jobs]
    except UnknownStateError as exc:
        return error(400, "bad_request", str(exc))
    return jsonify(items=items, page=page, per_page=per_page, total=total)


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str):
    with services().db.session() as session:
        return jsonify(job_to_dict(get_job_or_404(session, job_id, current_user.id, current_user.is_admin)))


@bp.get("/jobs/<job_id>/log")
def job_log(job_id: str):
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    return log_response(job)


@bp.get("/jobs/<job_id>/output")
def job_output(job_id: str):
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    if job.output_key is None:
        return error(409, "no_output", f"job is {job.status} and has no output")
    url = services().store.presigned_download(job.output_key, f"{job.project}-output.zip")
    if url is not None:
        return redirect(url)
    return output_response(job)


@bp.post("/jobs/<job_id>/cancel")
def job_cancel(job_id: str):
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        if not cancel_job(services(), session, job):
            return error(409, "finished", f"job is already {job.status}")
        return jsonify(job_to_dict(job)), 202


@bp.get("/health")
def health():
    report = check(services())
    return jsonify(report), 200 if report["status"] == "ok" else 503
