"""The failure summary of one job (webapp.failure), fed with the end of its log from the object store and the
datasets that exist: for the job page and the job's JSON."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from storage.datasets import list_datasets
from storage.logmarks import METADATA_KEY
from storage.logmarks import decode as decode_marks
from storage.models import Job
from storage.objects import ObjectStore, ObjectStoreError, log_key
from webapp.failure import TAIL_BYTES, Failure, JobFacts, is_failure, job_text, summarize

LOGGER = logging.getLogger(__name__)


def failure_of(store: ObjectStore, session: Session, job: Job) -> Failure | None:
    """None unless the job ended badly; a summary without log lines when its log cannot be read now (or was
    removed by retention): the state and reason still say something."""
    if not is_failure(job.status):
        return None
    text = "" if job.expired_at is not None else _log_tail(store, job.id)
    facts = JobFacts(
        status=job.status,
        reason=job.reason or "",
        runtime=job.runtime,
        datasets=tuple(job.datasets or ()),
        memory_limit=job.memory_limit,
        time_limit=job.time_limit,
        peak_memory_bytes=job.peak_memory_bytes,
    )
    return summarize(facts, text, [dataset.name for dataset, _version in list_datasets(session)])


def _log_tail(store: ObjectStore, job_id: str) -> str:
    key = log_key(job_id)
    try:
        found = store.stat(key)
        if found is None or found[0] == 0:
            return ""
        size, metadata = found
        offset = max(0, size - TAIL_BYTES)
        tail = b"".join(store.iter_object(key, offset=offset, length=size - offset))
    except ObjectStoreError as exc:
        LOGGER.warning("log of job %s not read for its failure summary: %s", job_id, exc)
        return ""
    return job_text(tail, offset, decode_marks(metadata.get(METADATA_KEY), size))
