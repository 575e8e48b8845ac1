"""The REST API under /api/v1: JSON in and out, errors as {"error", "message"}."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from storage.objects import ObjectStoreError
from storage.runtimes import public_runtimes
from storage.states import UnknownStateError
from webapp.api.events import WRITE_TIMEOUT_SECONDS, StreamRequest, job_events, parse_last_event_id, peer_closed
from webapp.api.openapi import openapi_document
from webapp.auth import may_see_details
from webapp.downloads import UNAVAILABLE, input_response, log_response, member_response, output_response, refuse_expired
from webapp.health import check, public
from webapp.job_failure import failure_of
from webapp.job_fields import job_to_dict
from webapp.jobnotes import NotesError, parse_patch
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
from webapp.outputs import OutputError, list_output
from webapp.paging import DEFAULT_PER_PAGE, MAX_PAGE, MAX_PER_PAGE, bounded_arg
from webapp.services import services
from webapp.streams import Stream
from webapp.uploads import staged_input

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf = CSRFProtect()

PUBLIC_ENDPOINTS = {"api.health", "api.openapi"}
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    416: "range_not_satisfiable",
    422: "unprocessable",
    503: "unavailable",
}


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error=code, message=message), status


@bp.before_request
def require_login():
    """Tokens need no CSRF token; a browser session does, on anything that changes state."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return error(401, "unauthorized", "log in, or send 'Authorization: Bearer <token>'")
    if not current_user.via_token and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    return None


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """Every HTTP error under /api/ as JSON; also registered on the app for the URLs no view matched."""
    response, status = error(exc.code or 500, ERROR_CODES.get(exc.code or 500, "error"), exc.description or "")
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return response, status


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    return error(400, "csrf", exc.description)


@bp.errorhandler(SubmitError)
def submit_error(exc: SubmitError):
    return error(exc.status, exc.code, str(exc))


def _page_args() -> tuple[int, int]:
    """``page`` and ``per_page`` within their bounds, or 400 naming the one that is not."""
    page = bounded_arg("page", 1, 1, MAX_PAGE)
    per_page = bounded_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    if page is None or per_page is None:
        raise SubmitError(400, "bad_request", f"page must be a whole number from 1 to {MAX_PAGE}, per_page from 1 to {MAX_PER_PAGE}")
    return page, per_page


@bp.post("/jobs")
def create_job():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error(400, "no_file", "send the zip as the multipart field 'file'")
    submission = Submission(
        upload=staged_input(upload),
        filename=upload.filename,
        runtime=request.form.get("runtime"),
        time_limit=request.form.get("time_limit"),
        memory_limit=request.form.get("memory_limit"),
        disk_limit=request.form.get("disk_limit"),
        datasets=request.form.getlist("datasets"),
        name=request.form.get("name"),
        tags=request.form.getlist("tags") or None,
    )
    job = submit_job(services(), current_user.id, submission)
    with services().db.session() as session:
        job = get_job_or_404(session, job.id, current_user.id)
        return jsonify(job_to_dict(job)), 201, {"Location": f"/api/v1/jobs/{job.id}"}


@bp.get("/jobs")
def jobs_index():
    page, per_page = _page_args()
    everyone = request.args.get("all") == "1" and current_user.is_admin
    filters = JobFilter(
        status=request.args.get("status"),
        project=request.args.get("project"),
        runtime=request.args.get("runtime"),
        name=request.args.get("name"),
        tag=request.args.get("tag"),
    )
    try:
        with services().db.session() as session:
            jobs, total = list_jobs(session, None if everyone else current_user.id, filters, page, per_page)
            items = [job_to_dict(job) for job in jobs]
    except UnknownStateError as exc:
        return error(400, "bad_request", str(exc))
    return jsonify(items=items, page=page, per_page=per_page, total=total, pages=max(1, -(-total // per_page)))


@bp.get("/jobs/<job_id>")
def job_detail(job_id: str):
    """The job, and for one that ended badly why (``failure``: only here, as it reads the end of the log)."""
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        failure = failure_of(services().store, session, job)
        return jsonify({**job_to_dict(job), "failure": None if failure is None else failure.to_dict()})


@bp.patch("/jobs/<job_id>")
def job_edit(job_id: str):
    """Change a job's name, notes or tags (at any time, whatever its state)."""
    body = request.get_json(silent=True)
    if body is None:
        return error(400, "bad_request", "send a JSON object (Content-Type: application/json) with any of name, notes, tags")
    try:
        text = parse_patch(body)
    except NotesError as exc:
        return error(422, "bad_notes", str(exc))
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        edit_job_text(job, text)
        session.flush()
        return jsonify(job_to_dict(job))


@bp.get("/jobs/<job_id>/log")
def job_log(job_id: str):
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
    return log_response(job)


@bp.get("/jobs/<job_id>/output")
def job_output(job_id: str):
    job = visible_job(job_id)
    refuse_expired(job)
    if job.output_key is None:
        return error(409, "no_output", f"job is {job.status} and has no output")
    url = services().store.presigned_download(job.output_key, f"{job.project}-output.zip")
    if url is not None:
        return redirect(url)
    return output_response(job)


@bp.get("/jobs/<job_id>/input")
def job_input(job_id: str):
    return input_response(visible_job(job_id))


@bp.post("/jobs/<job_id>/cancel")
def job_cancel(job_id: str):
    with services().db.session() as session:
        job = get_job_or_404(session, job_id, current_user.id, current_user.is_admin)
        if not cancel_job(services(), session, job):
            return error(409, "finished", f"job is already {job.status}")
        return jsonify(job_to_dict(job)), 202


@bp.post("/jobs/<job_id>/resubmit")
def job_resubmit(job_id: str):
    job = resubmit_job(services(), current_user.id, visible_job(job_id))
    with services().db.session() as session:
        return jsonify(job_to_dict(get_job_or_404(session, job.id, current_user.id))), 201, {"Location": f"/api/v1/jobs/{job.id}"}


@bp.get("/jobs/<job_id>/files")
def job_files(job_id: str):
    job = visible_job(job_id)
    refuse_expired(job)
    if job.output_key is None:
        return error(409, "no_output", f"job is {job.status} and has no output")
    try:
        listing = list_output(services().store, job.output_key)
    except OutputError as exc:
        return error(410, "gone", str(exc))
    except ObjectStoreError:
        return error(503, "unavailable", UNAVAILABLE)
    files = [
        {
            "name": f.name,
            "size": f.size,
            "content_type": f.content_type,
            "url": url_for("api.job_file", job_id=job.id, name=f.name),
        }
        for f in listing.files
    ]
    return jsonify(files=files, total_files=listing.total_files, total_bytes=listing.total_bytes)


@bp.get("/jobs/<job_id>/files/<path:name>")
def job_file(job_id: str, name: str):
    return member_response(visible_job(job_id), name, download=request.args.get("download") == "1")


@bp.get("/events")
def events():
    """Server-sent events about the caller's jobs (an admin's: everyone's); ``?job=ID`` (repeated) adds finished jobs
    to the first state, ``?log=ID`` also announces that job's log size whenever it grows; ``Last-Event-ID`` resumes."""
    log_job = request.args.get("log") or None
    if log_job is not None:
        log_job = visible_job(log_job).id
    svc = services()
    hub = svc.live
    hub.ensure_started()
    lease = hub.acquire(current_user.id)
    if lease is None:
        return error(429, "too_many_streams", f"at most {hub.streams_per_user} live streams per user are open at once; close a page or tab")
    stream = Stream(user_id=current_user.id, is_admin=current_user.is_admin, log_job=log_job)
    wanted = StreamRequest(
        job_ids={job_id for job_id in request.args.getlist("job") if len(job_id) == 32},
        last_event_id=parse_last_event_id(request.headers.get("Last-Event-ID")),
    )
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(WRITE_TIMEOUT_SECONDS)  # a client that reads nothing is dropped, its stream with it
    hub.open(stream)
    body = job_events(hub, svc.store, stream, wanted, client_gone=lambda: peer_closed(sock))
    response = Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(lambda: hub.close(stream, lease))
    return response


@bp.get("/runtimes")
def runtimes():
    """The runtimes a job can ask for and the entry file that selects each, from the one table the server uses."""
    return jsonify(items=public_runtimes())


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/health")
def health():
    """Public: the status per component. Admins (session or token) and the metrics token also get the details."""
    report = check(services())
    shown = report if may_see_details() else public(report)
    return jsonify(shown), 200 if report["status"] == "ok" else 503
