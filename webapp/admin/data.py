"""What the admin page shows, read from the database: consumers, work per runtime, running jobs, failures, history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from storage.models import ConsumerSeen, Job, OutboxEntry, utcnow
from storage.states import JobState

# A consumer heard from within this long is alive (heartbeats come every few seconds); the same window as /health.
CONSUMER_WINDOW = timedelta(seconds=30)
FAILURES = tuple(s.value for s in JobState if s.is_terminal and s not in (JobState.SUCCEEDED, JobState.CANCELLED))
ACTIVE = (JobState.PREPARING.value, JobState.RUNNING.value)


@dataclass(frozen=True)
class ConsumerRow:
    name: str
    runtime: str
    host: str
    slots: int
    busy: int
    last_seen: datetime
    age_seconds: float
    paused: str = ""  # why it takes no new job (e.g. its Docker host is short of disk); "" when it does

    @property
    def alive(self) -> bool:
        return self.age_seconds <= CONSUMER_WINDOW.total_seconds()


@dataclass
class RuntimeSummary:
    """One runtime at a glance: what waits, what runs, and the capacity heard from."""

    runtime: str
    depth: int | None = None  # ready messages in the broker's queue; None when the broker did not answer
    queued: int = 0  # jobs waiting, held ones included
    held: int = 0
    running: int = 0  # preparing or running
    consumers: int = 0  # alive ones
    slots: int = 0
    busy: int = 0


def consumers(session: Session, now: datetime | None = None) -> list[ConsumerRow]:
    now = now or utcnow()
    rows = session.scalars(select(ConsumerSeen).order_by(ConsumerSeen.runtime, ConsumerSeen.name))
    return [
        ConsumerRow(c.name, c.runtime, c.host, c.slots, c.busy, c.last_seen, (now - c.last_seen).total_seconds(), c.paused or "")
        for c in rows
    ]


def runtime_summaries(session: Session, runtimes: tuple[str, ...], depths: dict[str, int | None]) -> list[RuntimeSummary]:
    summaries = {runtime: RuntimeSummary(runtime, depth=depths.get(runtime)) for runtime in runtimes}
    counts = session.execute(
        select(Job.runtime, Job.status, func.count())
        .where(Job.status.in_((JobState.QUEUED.value, *ACTIVE)))
        .group_by(Job.runtime, Job.status)
    )
    for runtime, status, count in counts:
        summary = summaries.setdefault(runtime, RuntimeSummary(runtime))
        if status == JobState.QUEUED.value:
            summary.queued += count
        else:
            summary.running += count
    held = session.execute(
        select(Job.runtime, func.count())
        .join(OutboxEntry, OutboxEntry.job_id == Job.id)
        .where(OutboxEntry.held.is_(True), Job.status == JobState.QUEUED.value)
        .group_by(Job.runtime)
    )
    for runtime, count in held:
        summaries.setdefault(runtime, RuntimeSummary(runtime)).held = count
    for consumer in consumers(session):
        if consumer.alive:
            summary = summaries.setdefault(consumer.runtime, RuntimeSummary(consumer.runtime))
            summary.consumers += 1
            summary.slots += consumer.slots
            summary.busy += consumer.busy
    return list(summaries.values())


def running_jobs(session: Session) -> list[Job]:
    """Jobs preparing or running, longest running first, with their owners loaded."""
    query = select(Job).options(selectinload(Job.owner)).where(Job.status.in_(ACTIVE))
    return list(session.scalars(query.order_by(Job.started_at.is_(None), Job.started_at, Job.submitted_at)))


def recent_failures(session: Session, limit: int = 15) -> list[Job]:
    query = select(Job).options(selectinload(Job.owner)).where(Job.status.in_(FAILURES))
    return list(session.scalars(query.order_by(Job.finished_at.desc()).limit(limit)))


def elapsed_seconds(job: Job, now: datetime | None = None) -> float:
    """How long the job has been at it: since it started, or since it was submitted while it prepares."""
    return ((now or utcnow()) - (job.started_at or job.submitted_at)).total_seconds()


@dataclass(frozen=True)
class History:
    """Jobs submitted per time bucket, by the state they are in now."""

    start: datetime
    bucket: timedelta
    counts: list[Counter[str]]


def history(session: Session, span: timedelta, bucket: timedelta, now: datetime | None = None) -> History:
    now = now or utcnow()
    buckets = int(span / bucket)
    # Buckets end at the next whole bucket after now, so the bars line up with clock hours (or days).
    end = datetime.fromtimestamp((now.timestamp() // bucket.total_seconds() + 1) * bucket.total_seconds(), now.tzinfo)
    start = end - bucket * buckets
    counts: list[Counter[str]] = [Counter() for _ in range(buckets)]
    rows = session.execute(select(Job.submitted_at, Job.status).where(Job.submitted_at >= start))
    for submitted_at, status in rows:
        index = int((submitted_at - start) / bucket)
        if 0 <= index < buckets:
            counts[index][status] += 1
    return History(start, bucket, counts)
