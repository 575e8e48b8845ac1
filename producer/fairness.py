"""Fair use on the way to the broker: a job past its owner's running limit is held in the outbox, not published.

The broker's queues are first in, first out, so one user's hundred jobs published at once would make everyone else
wait behind them. Held jobs are released by the relay, round-robin across users and oldest first per user, each
only while its owner has fewer jobs released and unfinished than their limit.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.limits import LimitDefaults, active_count, held_reason, limits_of, lock_user, over
from storage.models import Job, OutboxEntry, User
from storage.states import DEFAULT_REASONS, JobState

LOGGER = logging.getLogger(__name__)


def hold_reason(session: Session, owner_id: int, defaults: LimitDefaults) -> str | None:
    """Why a new job of this user must wait unpublished, or None when it may go to the broker now."""
    lock_user(session, owner_id)
    limit = limits_of(session.get_one(User, owner_id), defaults).max_running
    active = active_count(session, owner_id)
    return held_reason(active, limit) if over(active, limit) else None


def releasable(db: Database) -> dict[int, list[int]]:
    """Held entries of still-queued jobs by owner, oldest first; owners ordered by their oldest held job."""
    with db.session() as session:
        rows = session.execute(
            select(OutboxEntry.id, Job.owner_id)
            .join(Job, Job.id == OutboxEntry.job_id)
            .where(OutboxEntry.held.is_(True), Job.status == JobState.QUEUED.value)
            .order_by(OutboxEntry.id)
        ).all()
    by_owner: dict[int, list[int]] = {}
    for entry_id, owner_id in rows:
        by_owner.setdefault(owner_id, []).append(entry_id)
    return by_owner


def release_for(db: Database, owner_id: int, entry_ids: list[int], defaults: LimitDefaults) -> list[int]:
    """Release as many of the owner's held entries as their free slots allow; returns the released ids."""
    with db.session() as session:
        lock_user(session, owner_id)
        limit = limits_of(session.get_one(User, owner_id), defaults).max_running
        free = len(entry_ids) if limit <= 0 else max(0, limit - active_count(session, owner_id))
        released = entry_ids[:free]
        for entry_id in released:
            entry = session.get_one(OutboxEntry, entry_id)
            entry.held = False
            session.get_one(Job, entry.job_id).reason = DEFAULT_REASONS[JobState.QUEUED]
    return released


def round_robin(queues: Iterable[list[int]]) -> list[int]:
    """One from each queue in turn: [[1, 2, 3], [7]] gives [1, 7, 2, 3]."""
    return [item for batch in itertools.zip_longest(*queues) for item in batch if item is not None]


def release_held(db: Database, defaults: LimitDefaults) -> list[int]:
    """Release what may go now and return the entries in the fair order to publish them in."""
    released = [release_for(db, owner_id, entry_ids, defaults) for owner_id, entry_ids in releasable(db).items()]
    return round_robin(released)
