"""Jobs as the web sees them: submit or resubmit (store the zip, insert the job and its outbox entry, publish), look
up, list, cancel."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session, selectinload

from producer import outbox
from producer.contract import CancelCommand, JobMessage, encode
from producer.publisher import PublishError
from producer.topology import CONTROL_EXCHANGE
from storage.archive import ArchiveError, ArchiveLimits, inspect_zip
from storage.datasets import DatasetError, resolve_refs
from storage.models import Job, new_id, utcnow
from storage.objects import ObjectStoreError, cancel_key, input_key
from storage.staged_input import StagedInput
from storage.states import DEFAULT_REASONS, JobState, can_transition, parse_state
from webapp.fairuse import fair_use_refusal
from webapp.jobnotes import JobText, NotesError, clean_name, clean_tags
from webapp.services import Services, services

LOGGER = logging.getLogger(__name__)


class SubmitError(ValueError):
    """A submission refused: ``status`` is the HTTP status, ``code`` the API error code, the message for humans."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Submission:
    upload: StagedInput  # on its way to the store already; nothing is visible there before submit_job commits it
    filename: str
    runtime: str | None
    time_limit: str | None
    memory_limit: str | None
    datasets: list[str]
    disk_limit: str | None = None
    name: str | None = None  # the project's name when left out
    tags: str | list[str] | None = None


def _limit(raw: str | None, default: int, maximum: int, what: str, unit: str) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise SubmitError(400, "bad_request", f"{what} must be a whole number of {unit}") from None
    if not 1 <= value <= maximum:
        raise SubmitError(422, "limit_exceeded", f"{what} must be between 1 and {maximum} {unit}")
    return value


def submit_job(services: Services, owner_id: int, submission: Submission) -> Job:
    """Check the zip, commit its staged upload, record the job with its outbox entry in one transaction, then try to
    publish it. A refusal leaves the upload uncommitted: closing it with the request aborts it."""
    config = services.config
    time_limit = _limit(submission.time_limit, config.default_time_limit, config.max_time_limit, "time_limit", "seconds")
    memory_limit = _limit(submission.memory_limit, config.default_memory_mib, config.max_memory_mib, "memory_limit", "MiB")
    disk_limit = _limit(submission.disk_limit, config.default_disk_mib, config.max_disk_mib, "disk_limit", "MiB")
    runtime = (submission.runtime or "").strip() or None
    if runtime is not None and runtime not in services.publisher.config.runtimes:
        raise SubmitError(422, "unknown_runtime", f"unknown runtime {runtime!r}")
    try:
        info = inspect_zip(submission.upload.file, submission.filename, runtime, ArchiveLimits(max_upload_bytes=config.max_upload_bytes))
    except ArchiveError as exc:
        raise SubmitError(422, exc.code, str(exc)) from exc
    try:
        with services.db.session() as session:
            datasets = resolve_refs(session, submission.datasets)  # exact versions, recorded with the job
    except DatasetError as exc:
        raise SubmitError(422, exc.code, str(exc)) from exc
    try:
        name = clean_name(submission.name or "") or info.project
        raw_tags = submission.tags or ""
        tags = clean_tags(",".join(raw_tags) if isinstance(raw_tags, list) else raw_tags)  # repeated fields, or commas
    except NotesError as exc:
        raise SubmitError(422, "bad_notes", str(exc)) from exc
    _check_fair_use(services, owner_id)
    job_id = submission.upload.job_id
    try:
        sha256, size = submission.upload.commit()
    except ObjectStoreError as exc:
        LOGGER.error("upload of job %s not stored: %s", job_id, exc)
        raise SubmitError(503, "storage_unavailable", "the object store is unavailable; nothing was stored, try again shortly") from exc
    job = Job(
        id=job_id,
        owner_id=owner_id,
        project=info.project,
        name=name,
        tags=tags,
        runtime=info.runtime,
        datasets=datasets,
        time_limit=time_limit,
        memory_limit=memory_limit,
        disk_limit=disk_limit,
        input_size=size,
        input_sha256=sha256,
    )
    return _enqueue(services, job)


def resubmit_job(services: Services, owner_id: int, original: Job) -> Job:
    """A new job from the same input zip, runtime, dataset versions and limits (checked against today's maximums).

    The zip is copied inside the object store, so the new job keeps its input however the old one is cleaned up.
    """
    if original.expired_at is not None:
        raise SubmitError(410, "expired", "this job's input was removed by the retention clean-up; submit the zip again")
    config = services.config
    time_limit = _limit(str(original.time_limit), config.default_time_limit, config.max_time_limit, "time_limit", "seconds")
    memory_limit = _limit(str(original.memory_limit), config.default_memory_mib, config.max_memory_mib, "memory_limit", "MiB")
    disk_limit = _limit(None if original.disk_limit is None else str(original.disk_limit), config.default_disk_mib, config.max_disk_mib, "disk_limit", "MiB")
    try:
        with services.db.session() as session:
            datasets = resolve_refs(session, original.datasets or [])  # the same versions, if they still exist
    except DatasetError as exc:
        raise SubmitError(422, exc.code, str(exc)) from exc
    _check_fair_use(services, owner_id)
    job_id = new_id()
    try:
        services.store.copy(original.input_key, input_key(job_id))
    except ObjectStoreError as exc:
        LOGGER.error("input of job %s not copied for a resubmit: %s", original.id, exc)
        raise SubmitError(503, "storage_unavailable", "the object store is unavailable; try again shortly") from exc
    job = Job(
        id=job_id,
        owner_id=owner_id,
        project=original.project,
        name=original.name or original.project,
        tags=list(original.tags or []),
        runtime=original.runtime,
        datasets=datasets,
        time_limit=time_limit,
        memory_limit=memory_limit,
        disk_limit=disk_limit,
        input_size=original.input_size,
        input_sha256=original.input_sha256,
    )
    return _enqueue(services, job)


def _check_fair_use(services: Services, owner_id: int) -> None:
    """Refuse before anything is stored: too many jobs waiting, or the output quota used up."""
    with services.db.session() as session:
        refusal = fair_use_refusal(session, owner_id, services.limits)
    if refusal is not None:
        raise SubmitError(*refusal)


def _enqueue(services: Services, job: Job) -> Job:
    """Record the job (queued) and its outbox entry in one transaction, then try the fast path to the broker."""
    job.status = JobState.QUEUED.value
    job.input_key = input_key(job.id)
    job.reason = DEFAULT_REASONS[JobState.QUEUED]
    message = JobMessage(
        job_id=job.id,
        runtime=job.runtime,
        input_key=job.input_key,
        time_limit=job.time_limit,
        memory_limit=job.memory_limit,
        datasets=job.datasets,
        disk_limit=job.disk_limit,
    )
    with services.db.session() as session:
        session.add(job)
        entry = outbox.enqueue(session, message, services.limits)
    outbox.publish_new(services.db, services.publisher, entry)
    return job


MIN_PREFIX = 4
SHORT_ID = 8  # how lists show an id; any unique prefix of MIN_PREFIX or more characters finds the job
_ID_PREFIX = re.compile(rf"[0-9a-f]{{{MIN_PREFIX},32}}")


def get_job_or_404(session: Session, job_id: str, user_id: int, is_admin: bool = False) -> Job:
    """The job, if the caller may see it, by its id or a unique prefix of it (409 when several of the caller's jobs
    share the prefix); another user's job is indistinguishable from a missing one."""
    job_id = job_id.lower()
    if not _ID_PREFIX.fullmatch(job_id):
        abort(404, description="no such job")
    if len(job_id) == 32:
        job = session.get(Job, job_id)
    else:
        query = select(Job).where(Job.id.startswith(job_id, autoescape=True))
        if not is_admin:
            query = query.where(Job.owner_id == user_id)
        found = session.scalars(query.limit(2)).all()
        if len(found) > 1:
            abort(409, description=f"several jobs have ids starting {job_id}; give more of the id")
        job = found[0] if found else None
    if job is None or (job.owner_id != user_id and not is_admin):
        abort(404, description="no such job")
    return job


def visible_job(job_id: str) -> Job:
    """``get_job_or_404`` for the logged-in caller (admins see every job), in a session of its own."""
    with services().db.session() as session:
        return get_job_or_404(session, job_id, current_user.id, current_user.is_admin)


def edit_job_text(job: Job, text: JobText) -> None:
    """Set what the request gave of the name (empty: the project's again), notes and tags."""
    if text.name is not None:
        job.name = text.name or job.project
    if text.notes is not None:
        job.notes = text.notes
    if text.tags is not None:
        job.tags = text.tags


@dataclass(frozen=True)
class JobFilter:
    """What a results list is narrowed to; empty fields do not narrow it."""

    status: str | None = None
    project: str | None = None  # part of the project name, any case
    runtime: str | None = None
    name: str | None = None  # part of the job's name, any case
    tag: str | None = None  # one of its tags, exactly


def list_jobs(session: Session, user_id: int | None, filters: JobFilter, page: int, per_page: int) -> tuple[list[Job], int]:
    """A page of jobs, newest first; ``user_id`` None means everyone's (admins)."""
    query = select(Job)
    if user_id is not None:
        query = query.where(Job.owner_id == user_id)
    if filters.status:
        query = query.where(Job.status == parse_state(filters.status).value)
    if filters.project:
        query = query.where(Job.project.ilike(_containing(filters.project), escape="\\"))
    if filters.name:
        query = query.where(Job.name.ilike(_containing(filters.name), escape="\\"))
    if filters.tag:  # the tags' JSON text holds the tag as JSON writes it, quotes included
        query = query.where(cast(Job.tags, String).like(_containing(json.dumps(filters.tag)), escape="\\"))
    if filters.runtime:
        query = query.where(Job.runtime == filters.runtime)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page_query = query.options(selectinload(Job.owner)).order_by(Job.submitted_at.desc(), Job.id)
    jobs = session.scalars(page_query.offset((page - 1) * per_page).limit(per_page)).all()
    return list(jobs), total


def _containing(text: str) -> str:
    """A LIKE pattern for ``text`` anywhere, its wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def cancel_job(services: Services, session: Session, job: Job) -> bool:
    """Cancel a job: a queued one ends at once and never starts; a running one is stopped by its consumer.

    Returns False when the job had already ended.
    """
    state = JobState(job.status)
    if state.is_terminal:
        return False
    try:
        services.store.put_bytes(cancel_key(job.id), b"cancelled")
    except ObjectStoreError as exc:
        raise SubmitError(503, "storage_unavailable", "the object store is unavailable; try again shortly") from exc
    if state is JobState.QUEUED and can_transition(state, JobState.CANCELLED):
        job.status = JobState.CANCELLED.value
        job.reason = "cancelled before it started"
        job.finished_at = utcnow()
    try:
        services.publisher.publish(CONTROL_EXCHANGE, "", encode(CancelCommand(job_id=job.id)), message_id=new_id())
    except PublishError as exc:
        LOGGER.warning("cancel of job %s not broadcast (%s); its consumer finds the marker within seconds", job.id, exc)
    return True


def queue_wait_seconds(job: Job) -> float | None:
    """From submission to start: how long the job waited for the broker, a consumer and its owner's running limit."""
    return None if job.started_at is None else round((job.started_at - job.submitted_at).total_seconds(), 3)


def iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
