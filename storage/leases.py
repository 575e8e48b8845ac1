"""Leases of open live-update streams: the per-user cap counts them across every web process.

A web process renews its own leases while it runs; those of a process that died expire after LEASE_SECONDS and stop
counting, so a crash never locks a user out for longer than that.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import StreamLease, utcnow

LEASE_SECONDS = 60
RENEW_SECONDS = 20


def acquire(session: Session, user_id: int, holder: str, cap: int) -> int | None:
    """A lease for one more stream of this user, or None when they have ``cap`` open already."""
    now = utcnow()
    session.execute(delete(StreamLease).where(StreamLease.expires_at < now))
    count = session.scalar(select(func.count()).select_from(StreamLease).where(StreamLease.user_id == user_id)) or 0
    if count >= cap:
        return None
    lease = StreamLease(user_id=user_id, holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS))
    session.add(lease)
    session.flush()
    return lease.id


def renew(session: Session, holder: str) -> None:
    expires = utcnow() + timedelta(seconds=LEASE_SECONDS)
    session.execute(update(StreamLease).where(StreamLease.holder == holder).values(expires_at=expires))


def release(session: Session, lease_id: int) -> None:
    session.execute(delete(StreamLease).where(StreamLease.id == lease_id))
