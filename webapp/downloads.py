"""Streaming a job's log, output zip and single output files from the object store, never holding them whole."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort, request, stream_with_context

from storage.logmarks import METADATA_KEY
from storage.logmarks import decode as decode_marks
from storage.logmarks import encode as encode_marks
from storage.models import Job
from storage.objects import ObjectStoreError, log_key
from webapp.outputs import OutputError, iter_member
from webapp.services import services

UNAVAILABLE = "the object store is unavailable; try again shortly"

# A file the job wrote is shown as an image at most: no script in it runs, no type is guessed from its bytes.
UNTRUSTED_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def content_disposition(kind: str, filename: str) -> str:
    """``attachment``/``inline`` with the name in plain ASCII and, for other characters, RFC 6266's ``filename*``."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def expired_message(job: Job) -> str:
    return f"this job's files were removed on {job.expired_at:%Y-%m-%d} by the retention clean-up; only its record is kept"


def refuse_expired(job: Job) -> None:
    """410 Gone for a job whose files retention removed: not an outage, they will not come back."""
    if job.expired_at is not None:
        abort(410, description=expired_message(job))


def log_response(job: Job) -> Response:
    """The log so far (the consumer snapshots it every few seconds while the job runs); honours one byte range,
    so a page can follow a growing log by asking only for what it has not seen. Where labqueue's own marks are
    comes from the consumer, beside the bytes (storage.logmarks), never from the text: ``X-Log-Marks`` lists them
    as JSON ``[[kind, start, end], ...]`` and ``X-Log-Cut: start-end`` says where the cut of a capped log sits."""
    refuse_expired(job)
    store = services().store
    key = log_key(job.id)
    try:
        found = store.stat(key)
    except ObjectStoreError:
        abort(503, description=UNAVAILABLE)
    size, metadata = found if found is not None else (0, {})
    marks = decode_marks(metadata.get(METADATA_KEY), size)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store", "X-Log-Marks": encode_marks(marks)}
    cut = next((mark for mark in marks if mark.kind == "cut"), None)
    if cut is not None:
        headers["X-Log-Cut"] = f"{cut.start}-{cut.end}"
    if request.range is not None:
        span = request.range.range_for_length(size)
        if span is None:
            return Response("", 416, mimetype="text/plain", headers={**headers, "Content-Range": f"bytes */{size}"})
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        body = store.iter_object(key, offset=start, length=stop - start)
        headers["Content-Length"] = str(stop - start)
        return Response(stream_with_context(body), 206, mimetype="text/plain", headers=headers)
    if size == 0:
        return Response("", 200, mimetype="text/plain", headers=headers)
    body = store.iter_object(key)
    return Response(stream_with_context(body), 200, mimetype="text/plain", headers={**headers, "Content-Length": str(size)})


def output_response(job: Job) -> Response:
    refuse_expired(job)
    if job.output_key is None:
        abort(409, description=f"the job is {job.status} and has no output")
    return zip_response(job.output_key, f"{job.project}-output.zip", "this job's output is no longer stored")


def input_response(job: Job) -> Response:
    refuse_expired(job)
    return zip_response(job.input_key, f"{job.project}.zip", "this job's input is no longer stored")


def zip_response(key: str, filename: str, gone: str) -> Response:
    store = services().store
    try:
        size = store.size(key)
    except ObjectStoreError:
        abort(503, description=UNAVAILABLE)
    if size is None:
        abort(410, description=gone)
    return Response(
        stream_with_context(store.iter_object(key)),
        200,
        mimetype="application/zip",
        headers={"Content-Length": str(size), "Content-Disposition": content_disposition("attachment", filename)},
    )


def member_response(job: Job, name: str, download: bool) -> Response:
    """One file of the job's output zip: images and text inline (sandboxed), anything else, or on request, as a
    download. A missing file answers 404 like a missing job."""
    refuse_expired(job)
    if job.output_key is None:
        abort(404, description="no such file in the output")
    try:
        found = iter_member(services().store, job.output_key, name)
    except OutputError as exc:
        abort(410, description=str(exc))
    except ObjectStoreError:
        abort(503, description=UNAVAILABLE)
    if found is None:
        abort(404, description="no such file in the output")
    file, chunks = found
    inline = not download and file.content_type != "application/octet-stream"
    headers = {
        **UNTRUSTED_HEADERS,
        "Content-Length": str(file.size),
        "Content-Disposition": content_disposition("inline" if inline else "attachment", name.rpartition("/")[2]),
        "Cache-Control": "private, max-age=3600",
    }
    return Response(stream_with_context(chunks), 200, content_type=file.content_type, headers=headers)
