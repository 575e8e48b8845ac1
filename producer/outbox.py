"""The outbox: a job's message is stored with the job, then published by the fast path or, failing that, the relay."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from producer.contract import JobMessage, encode
from producer.publisher import Publisher, PublishError
from producer.topology import JOBS_EXCHANGE
from storage.db import Database
from storage.models import OutboxEntry, utcnow

LOGGER = logging.getLogger(__name__)


def enqueue(session: Session, message: JobMessage) -> OutboxEntry:
    """Add the job's message to the outbox in the caller's transaction."""
    entry = OutboxEntry(job_id=message.job_id, routing_key=message.runtime, body=encode(message).decode())
    session.add(entry)
    session.flush()
    return entry


def publish_entry(db: Database, publisher: Publisher, entry_id: int) -> bool:
    """Publish one outbox entry and mark it sent; False (entry kept for the relay) when the broker does not confirm."""
    with db.session() as session:
        entry = session.get(OutboxEntry, entry_id)
        if entry is None or entry.published_at is not None:
            return True
        job_id, routing_key, body = entry.job_id, entry.routing_key, entry.body
    try:
        publisher.publish(JOBS_EXCHANGE, routing_key, body.encode(), message_id=job_id)
    except PublishError as exc:
        LOGGER.warning("job %s not published yet, the relay will retry: %s", job_id, exc)
        return False
    with db.session() as session:
        session.get(OutboxEntry, entry_id).published_at = utcnow()
    return True


def publish_pending(db: Database, publisher: Publisher, older_than: timedelta, limit: int = 500) -> int:
    """Publish entries the fast path left behind; stop at the first failure (the broker is likely down)."""
    cutoff = utcnow() - older_than
    with db.session() as session:
        ids = session.scalars(
            select(OutboxEntry.id)
            .where(OutboxEntry.published_at.is_(None), OutboxEntry.created_at <= cutoff)
            .order_by(OutboxEntry.id)
            .limit(limit)
        ).all()
    published = 0
    for entry_id in ids:
        if not publish_entry(db, publisher, entry_id):
            break
        published += 1
    return published
