"""The outbox: a job's message is stored with the job, then published by the fast path or, failing that, the relay."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from producer.contract import JobMessage, encode
from producer.fairness import hold_reason, release_held
from producer.publisher import Publisher, PublishError
from producer.topology import JOBS_EXCHANGE
from storage.db import Database
from storage.limits import LimitDefaults
from storage.models import Job, OutboxEntry, utcnow

LOGGER = logging.getLogger(__name__)


def enqueue(session: Session, message: JobMessage, limits: LimitDefaults) -> OutboxEntry:
    """Add the job's message to the outbox in the caller's transaction (the job's row is in it already); held,
    with the job's reason saying so, when its owner is at their running limit."""
    session.flush()
    job = session.get(Job, message.job_id)
    held = hold_reason(session, job.owner_id, limits)
    if held is not None:
        job.reason = held
        LOGGER.info("job %s %s", job.id, held)
    entry = OutboxEntry(job_id=message.job_id, routing_key=message.runtime, body=encode(message).decode(), held=held is not None)
    session.add(entry)
    session.flush()
    return entry


def publish_entry(db: Database, publisher: Publisher, entry_id: int) -> bool:
    """Publish one outbox entry and mark it sent; False (entry kept for the relay) when it is held or the broker
    does not confirm."""
    with db.session() as session:
        entry = session.get(OutboxEntry, entry_id)
        if entry is None or entry.published_at is not None:
            return True
        if entry.held:
            return False
        job_id, routing_key, body = entry.job_id, entry.routing_key, entry.body
    try:
        publisher.publish(JOBS_EXCHANGE, routing_key, body.encode(), message_id=job_id)
    except PublishError as exc:
        LOGGER.warning("job %s not published yet, the relay will retry: %s", job_id, exc)
        return False
    with db.session() as session:
        session.get(OutboxEntry, entry_id).published_at = utcnow()
    return True


def publish_pending(db: Database, publisher: Publisher, older_than: timedelta, limits: LimitDefaults, limit: int = 500) -> int:
    """Publish entries the fast path left behind, then held entries whose owners now have a free slot, in fair order;
    stop at the first failure (the broker is likely down)."""
    cutoff = utcnow() - older_than
    with db.session() as session:
        ids = session.scalars(
            select(OutboxEntry.id)
            .where(OutboxEntry.published_at.is_(None), OutboxEntry.held.is_(False), OutboxEntry.created_at <= cutoff)
            .order_by(OutboxEntry.id)
            .limit(limit)
        ).all()
    published = 0
    for entry_id in [*ids, *release_held(db, limits)]:
        if not publish_entry(db, publisher, entry_id):
            break
        published += 1
    return published
