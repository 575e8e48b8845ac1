"""How durations and times read on the pages (sizes: storage.units); registered as Jinja filters by the pages blueprint."""

from __future__ import annotations

from datetime import datetime

from storage.models import Job


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def job_seconds(job: Job) -> float | None:
    """How long the job ran: the consumer's measure once it ended, else the time since it started."""
    if job.wall_seconds is not None:
        return job.wall_seconds
    if job.started_at is None:
        return None
    end = job.finished_at or datetime.now(job.started_at.tzinfo)
    return max(0.0, (end - job.started_at).total_seconds())


def utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""
