"""Fair use: each user's maximum of queued and of running jobs and their quota for stored outputs.

A user's own setting wins; unset, the server's default from ``LABQUEUE_USER_*`` applies. The web checks the queued
limit and the quota when a job is submitted; the producer holds back jobs past the running limit (producer.fairness).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Job, OutboxEntry, User
from storage.settings import Settings, setting
from storage.states import TERMINAL_STATES, JobState

GIB = 2**30
UNFINISHED = tuple(state.value for state in JobState if state not in TERMINAL_STATES)


class LimitDefaults(Settings):
    """The limits of users who have none of their own."""

    max_queued: int = setting(
        1000, "jobs a user may have waiting to start (more: 429); `0` no limit", env="LABQUEUE_USER_MAX_QUEUED", ge=0
    )
    max_running: int = setting(
        8, "jobs a user may have released to run; more are held, not refused; `0` no limit", env="LABQUEUE_USER_MAX_RUNNING", ge=0
    )
    # A lab server's disk, not a cloud bucket: a few users' worth fits in it.
    output_quota_gib: float = setting(
        20.0, "stored outputs per user (over it: 422); `0` no limit", env="LABQUEUE_USER_OUTPUT_QUOTA_GIB", unit="GiB", ge=0
    )

    @property
    def output_quota_bytes(self) -> int:
        return int(self.output_quota_gib * GIB)


@dataclass(frozen=True)
class UserLimits:
    max_queued: int
    max_running: int
    output_quota_bytes: int


def limits_of(user: User, defaults: LimitDefaults) -> UserLimits:
    return UserLimits(
        max_queued=defaults.max_queued if user.max_queued is None else user.max_queued,
        max_running=defaults.max_running if user.max_running is None else user.max_running,
        output_quota_bytes=defaults.output_quota_bytes if user.output_quota_bytes is None else user.output_quota_bytes,
    )


def queued_count(session: Session, owner_id: int) -> int:
    """Jobs of the user waiting to start, held ones included."""
    query = select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.status == JobState.QUEUED.value)
    return session.scalar(query) or 0


def active_count(session: Session, owner_id: int) -> int:
    """Jobs of the user released to the broker and not finished: published or about to be, starting or running.

    These are what the running limit bounds; a held job does not count until it is released.
    """
    query = (
        select(func.count())
        .select_from(Job)
        .join(OutboxEntry, OutboxEntry.job_id == Job.id)
        .where(Job.owner_id == owner_id, Job.status.in_(UNFINISHED), OutboxEntry.held.is_(False))
    )
    return session.scalar(query) or 0


def stored_output_bytes(session: Session, owner_id: int) -> int:
    """Bytes of the user's outputs still in the object store (retention removes expired ones)."""
    query = select(func.coalesce(func.sum(Job.output_bytes), 0)).where(Job.owner_id == owner_id, Job.expired_at.is_(None))
    return int(session.scalar(query) or 0)


def held_reason(active: int, limit: int) -> str:
    return f"held: {active} of your jobs are running (limit {limit})"


def over(count: int, limit: int) -> bool:
    """Whether ``count`` has reached ``limit``; a limit of 0 means no limit."""
    return limit > 0 and count >= limit


def lock_user(session: Session, owner_id: int) -> None:
    """Serialise counting for one user: a no-op update is a row lock on PostgreSQL and takes SQLite's write lock
    (which has no SELECT ... FOR UPDATE), so two submissions or a submission and a release never both see a free slot."""
    session.execute(update(User).where(User.id == owner_id).values(max_running=User.max_running))
