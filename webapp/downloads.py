"""Streaming a job's log and output from the object store to the client, never holding them whole."""

from __future__ import annotations

from flask import Response, stream_with_context

from storage.models import Job
from storage.objects import ObjectStoreError, log_key
from webapp.services import services


def log_response(job: Job) -> Response:
    """The log so far (the consumer snapshots it every few seconds while the job runs)."""
    store = services().store
    try:
        size = store.size(log_key(job.id))
    except ObjectStoreError:
        return Response("the object store is unavailable; try again shortly\n", 503, mimetype="text/plain")
    if size is None:
        return Response("", 200, mimetype="text/plain")
    return Response(stream_with_context(store.iter_object(log_key(job.id))), 200, mimetype="text/plain", headers={"Content-Length": str(size)})


def output_response(job: Job) -> Response:
    store = services().store
    try:
        size = store.size(job.output_key)
    except ObjectStoreError:
        return Response("the object store is unavailable; try again shortly\n", 503, mimetype="text/plain")
    if size is None:
        return Response("this job's output is no longer stored\n", 410, mimetype="text/plain")
    return Response(
        stream_with_context(store.iter_object(job.output_key)),
        200,
        mimetype="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{job.project}-output.zip"',
        },
    )
