"""Applies consumers' events to the database, idempotently: duplicates and late events never move a job backwards."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from producer.contract import Heartbeat, JobEvent
from storage.models import ConsumerSeen, Job, RecordedEvent, utcnow
from storage.states import JobState, UnknownStateError, can_transition, parse_state

LOGGER = logging.getLogger(__name__)

# Event fields copied onto the job row when present.
_RESULT_FIELDS = (
    "exit_code",
    "container_runtime",
    "output_key",
    "output_bytes",
    "log_key",
    "wall_seconds",
    "cpu_seconds",
    "peak_memory_bytes",
    "environment",
)


def apply_event(session: Session, event: JobEvent) -> bool:
    """Apply one event; True when it changed the job, False when it was a duplicate, stale or for an unknown job."""
    if session.get(RecordedEvent, event.event_id) is not None:
        return False
    try:
        new = parse_state(event.status)
    except UnknownStateError:
        LOGGER.error("event %s for job %s has unknown status %r; ignored", event.event_id, event.job_id, event.status)
        return False
    job = session.get(Job, event.job_id, with_for_update=True)
    applied = job is not None and can_transition(JobState(job.status), new)
    if job is not None and applied:
        _apply(job, event, new)
    session.add(RecordedEvent(event_id=event.event_id, job_id=event.job_id, status=event.status, applied=applied))
    return applied


def _apply(job: Job, event: JobEvent, new: JobState) -> None:
    at = datetime.fromisoformat(event.at)
    job.status = new.value
    job.reason = event.reason
    if event.consumer:
        job.consumer = event.consumer
    if event.attempt:
        job.attempt = max(job.attempt, event.attempt)
    if new is JobState.RUNNING and job.started_at is None:
        job.started_at = at
    if new.is_terminal:
        job.finished_at = at
        for name in _RESULT_FIELDS:
            value = getattr(event, name)
            if value is not None:
                setattr(job, name, value)


def apply_heartbeat(session: Session, beat: Heartbeat) -> None:
    seen = session.get(ConsumerSeen, beat.consumer) or ConsumerSeen(name=beat.consumer)
    seen.runtime, seen.host, seen.slots, seen.busy, seen.paused = beat.runtime, beat.host, beat.slots, beat.busy, beat.paused
    seen.last_seen = utcnow()
    session.add(seen)


def mark_system_error(session: Session, job_id: str, reason: str) -> bool:
    """End a job the infrastructure gave up on (delivery limit); never overrides a final state."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or not can_transition(JobState(job.status), JobState.SYSTEM_ERROR):
        return False
    job.status = JobState.SYSTEM_ERROR.value
    job.reason = reason
    job.finished_at = utcnow()
    return True
