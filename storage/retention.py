"""Retention: a finished job's objects (input, output, log, markers) are removed once older than the configured age.

The job's row stays, marked expired, so its history and accounting survive and downloads can say the files are
gone (410) instead of failing obscurely. Run hourly by the producer, or by hand (``labqueue-admin cleanup``, admin page).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from storage.db import Database
from storage.models import Job, utcnow
from storage.objects import ObjectStore, ObjectStoreError, job_prefix
from storage.settings import Settings, setting
from storage.states import TERMINAL_STATES

LOGGER = logging.getLogger(__name__)

FINISHED = tuple(state.value for state in TERMINAL_STATES)


class RetentionConfig(Settings):
    """How long a finished job's files are kept (0 days: forever) and how often the producer looks."""

    days: float = setting(
        90.0, "a finished job's files are removed this long after it ended; `0` keeps them", env="LABQUEUE_RETENTION_DAYS", unit="days", ge=0
    )
    interval_seconds: float = setting(
        3600.0, "how often the producer cleans up", env="LABQUEUE_RETENTION_INTERVAL_SECONDS", unit="seconds", gt=0
    )

    @property
    def max_age(self) -> timedelta | None:
        return timedelta(days=self.days) if self.days > 0 else None


@dataclass(frozen=True)
class CleanupReport:
    expired: int = 0
    objects_removed: int = 0
    output_bytes_freed: int = 0
    input_bytes_freed: int = 0
    error: str | None = None  # the object store failed; what was done so far stands, the rest waits for the next run


def expire_jobs(db: Database, store: ObjectStore, max_age: timedelta, batch: int = 500) -> CleanupReport:
    """Remove the objects of jobs that finished more than ``max_age`` ago and mark their rows expired."""
    cutoff = utcnow() - max_age
    with db.session() as session:
        rows = session.execute(
            select(Job.id, Job.output_bytes, Job.input_size)
            .where(Job.status.in_(FINISHED), Job.expired_at.is_(None), Job.finished_at <= cutoff)
            .order_by(Job.finished_at)
            .limit(batch)
        ).all()
    expired = removed = output_bytes = input_bytes = 0
    for job_id, job_output, job_input in rows:
        try:
            removed += store.remove_prefix(job_prefix(job_id))
        except ObjectStoreError as exc:
            LOGGER.error("retention stopped at job %s: %s", job_id, exc)
            return CleanupReport(expired, removed, output_bytes, input_bytes, error=str(exc))
        with db.session() as session:
            session.get_one(Job, job_id).expired_at = utcnow()
        LOGGER.info("job %s expired: its files are removed", job_id)
        expired += 1
        output_bytes += job_output or 0
        input_bytes += job_input or 0
    return CleanupReport(expired, removed, output_bytes, input_bytes)


def run_cleanup(db: Database, store: ObjectStore, config: RetentionConfig) -> CleanupReport:
    """One clean-up pass, in batches until nothing old is left; a no-op when retention is off."""
    total = CleanupReport()
    if config.max_age is None:
        return total
    while True:
        report = expire_jobs(db, store, config.max_age)
        total = CleanupReport(
            total.expired + report.expired,
            total.objects_removed + report.objects_removed,
            total.output_bytes_freed + report.output_bytes_freed,
            total.input_bytes_freed + report.input_bytes_freed,
            report.error,
        )
        if report.error is not None or report.expired == 0:
            return total
