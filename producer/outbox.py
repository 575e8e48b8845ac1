"""The outbox: a job's message is stored with the job, then published by the fast path or, failing that, the relay."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
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
    job = session.get_one(Job, message.job_id)
    held = hold_reason(session, job.owner_id, limits)
    if held is not None:
        job.reason = held
        LOGGER.info("job %s %s", job.id, held)
    entry = OutboxEntry(job_id=message.job_id, routing_key=message.runtime, body=encode(message).decode(), held=held is not None)
    session.add(entry)
    session.flush()
    return entry


def publish_new(db: Database, publisher: Publisher, entry: OutboxEntry) -> bool:
    """The fast path: publish an entry its caller has just committed. False leaves it to the relay: it is held, or
    the broker did not confirm."""
    return not entry.held and _send(db, publisher, [entry]) == 1


def publish_pending(db: Database, publisher: Publisher, older_than: timedelta, limits: LimitDefaults, limit: int = 500) -> int:
    """Publish entries the fast path left behind, then held entries whose owners now have a free slot, in fair order;
    stop at the first failure (the broker is likely down). The relay runs whenever a job ends, so what to send is read
    in one go and what was sent is marked in one write, however many entries there are."""
    released = release_held(db, limits)
    cutoff = utcnow() - older_than
    with db.session() as session:
        unpublished = (OutboxEntry.published_at.is_(None), OutboxEntry.held.is_(False))
        left_behind = select(OutboxEntry).where(*unpublished, OutboxEntry.created_at <= cutoff, OutboxEntry.id.not_in(released))
        entries = list(session.scalars(left_behind.order_by(OutboxEntry.id).limit(limit)))
        if released:
            by_id = {entry.id: entry for entry in session.scalars(select(OutboxEntry).where(*unpublished, OutboxEntry.id.in_(released)))}
            entries += [by_id[entry_id] for entry_id in released if entry_id in by_id]
    return _send(db, publisher, entries)


def _send(db: Database, publisher: Publisher, entries: list[OutboxEntry]) -> int:
    """Publish the entries in order, stopping at the first the broker does not confirm; mark the published ones sent
    in one write and return how many they were."""
    published: list[int] = []
    for entry in entries:
        try:
            publisher.publish(JOBS_EXCHANGE, entry.routing_key, entry.body.encode(), message_id=entry.job_id)
        except PublishError as exc:
            LOGGER.warning("job %s not published yet, the relay will retry: %s", entry.job_id, exc)
            break
        published.append(entry.id)
    if published:
        with db.session() as session:
            session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(published)).values(published_at=utcnow()))
    return len(published)
