"""Accounting: what each user's jobs used over a period (jobs submitted in it), for the admin page and `labqueue-admin usage`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from storage.models import Job, User
from storage.sqltime import seconds_between
from storage.states import JobState


@dataclass(frozen=True)
class UserUsage:
    user: str
    jobs: int
    started: int
    succeeded: int
    failed: int  # ended in any state but succeeded or cancelled
    wall_seconds: float
    cpu_seconds: float
    queue_wait_seconds: float  # summed over the jobs that started
    peak_memory_bytes: int | None  # the largest of any one job
    output_bytes: int

    @property
    def mean_wait_seconds(self) -> float | None:
        return self.queue_wait_seconds / self.started if self.started else None


FAILED_STATES = tuple(s.value for s in JobState if s.is_terminal and s not in (JobState.SUCCEEDED, JobState.CANCELLED))


def usage_by_user(session: Session, since: datetime, until: datetime | None = None) -> list[UserUsage]:
    """Totals per user of the jobs submitted from ``since`` (until ``until``), most CPU first."""
    wait = seconds_between(Job.started_at, Job.submitted_at, session.get_bind().dialect.name)
    cpu = func.coalesce(func.sum(Job.cpu_seconds), 0.0)
    query = (
        select(
            User.name,
            func.count(Job.id),
            func.count(Job.started_at),
            func.sum(case((Job.status == JobState.SUCCEEDED.value, 1), else_=0)),
            func.sum(case((Job.status.in_(FAILED_STATES), 1), else_=0)),
            func.coalesce(func.sum(Job.wall_seconds), 0.0),
            cpu,
            func.coalesce(func.sum(wait), 0.0),
            func.max(Job.peak_memory_bytes),
            func.coalesce(func.sum(Job.output_bytes), 0),
        )
        .join(User, User.id == Job.owner_id)
        .where(Job.submitted_at >= since)
        .group_by(User.name)
        .order_by(cpu.desc(), User.name)
    )
    if until is not None:
        query = query.where(Job.submitted_at < until)
    return [
        UserUsage(
            user=name,
            jobs=jobs,
            started=started,
            succeeded=int(succeeded or 0),
            failed=int(failed or 0),
            wall_seconds=float(wall),
            cpu_seconds=float(cpu_total),
            queue_wait_seconds=float(waited),
            peak_memory_bytes=peak,
            output_bytes=int(output),
        )
        for name, jobs, started, succeeded, failed, wall, cpu_total, waited, peak, output in session.execute(query)
    ]
