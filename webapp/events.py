"""Server-sent events: a page (or the CLI) hears of its jobs' changes within a second, without polling the API.

One cheap indexed query a second per open stream: the caller's unfinished jobs plus the ones it asked about.
A stream ends when the client goes away or after a few minutes (browsers reconnect by themselves, and the
reconnect re-sends the current state), so it never pins a gunicorn thread for long.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy import select as sql_select

from storage.models import Job, utcnow
from storage.objects import ObjectStoreError, log_key
from storage.states import JobState
from webapp.jobs import job_to_dict
from webapp.services import Services

LOGGER = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LOG_CHECK_SECONDS = 2.0
HEARTBEAT_SECONDS = 15.0
MAX_LIFETIME_SECONDS = 300.0
RETRY_MILLISECONDS = 2000
MAX_WATCHED = 200
# Jobs submitted this long before the stream opened count as new too: the page it serves may be that old.
NEW_JOB_MARGIN = timedelta(seconds=30)
ACTIVE = [state.value for state in JobState if not state.is_terminal]


@dataclass
class StreamRequest:
    """Who listens and to what: their unfinished jobs always, plus ``job_ids``, plus one job's log size."""

    user_id: int
    is_admin: bool = False
    job_ids: set[str] = field(default_factory=set)
    log_job: str | None = None
    lifetime: float = MAX_LIFETIME_SECONDS


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _fingerprint(job: Job) -> tuple[Any, ...]:
    return (job.status, job.reason, job.attempt, job.consumer, job.started_at, job.finished_at, job.exit_code, job.output_key)


def peer_closed(sock: socket.socket | None) -> bool:
    """True once the client has hung up: its socket reads as end-of-file. Unknown (no socket, TLS) reads as open;
    the heartbeat's failed write ends those streams instead."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except ValueError:
        return False
    except OSError:
        return True


class JobStream:
    """The state of one stream: what was sent, which jobs are still watched, the log size last announced."""

    def __init__(self, services: Services, request: StreamRequest) -> None:
        self.services = services
        self.request = request
        self.sent: dict[str, tuple[Any, ...]] = {}
        self.watching = set(list(request.job_ids)[:MAX_WATCHED])
        self.log_size: int | None = None
        self.log_done = request.log_job is None
        self.log_checked = 0.0
        self.since = utcnow() - NEW_JOB_MARGIN

    def changed_jobs(self) -> list[dict[str, Any]]:
        """Jobs whose state differs from what this stream last sent; finished ones are sent once, then dropped.

        Watched: the caller's unfinished jobs, the ones asked about, and the caller's jobs submitted since the stream
        opened (a job that fails within a second is never seen unfinished).
        """
        req = self.request
        mine = Job.owner_id == req.user_id
        asked = Job.id.in_(self.watching)
        if not req.is_admin:
            asked = and_(asked, mine)
        watched = or_(and_(mine, Job.status.in_(ACTIVE)), and_(mine, Job.submitted_at >= self.since), asked)
        changed = []
        with self.services.db.session() as session:
            for job in session.scalars(sql_select(Job).where(watched).order_by(Job.submitted_at, Job.id)):
                fingerprint = _fingerprint(job)
                if self.sent.get(job.id) != fingerprint:
                    self.sent[job.id] = fingerprint
                    changed.append(job_to_dict(job))
                if JobState(job.status).is_terminal:
                    self.watching.discard(job.id)
                elif len(self.watching) < MAX_WATCHED:
                    self.watching.add(job.id)  # so its end is seen after it leaves the unfinished set
        return changed

    def log_event(self, now: float) -> dict[str, Any] | None:
        """The followed job's log size when it changed; checked every few seconds, and one last time at its end."""
        job_id = self.request.log_job
        if self.log_done or job_id is None or now - self.log_checked < LOG_CHECK_SECONDS and job_id not in self._ended():
            return None
        self.log_checked = now
        self.log_done = job_id in self._ended()
        try:
            size = self.services.store.size(log_key(job_id)) or 0
        except ObjectStoreError as exc:
            LOGGER.warning("log size of job %s unknown: %s", job_id, exc)
            self.log_done = False
            return None
        if size == self.log_size and not self.log_done:
            return None
        self.log_size = size
        return {"id": job_id, "size": size, "final": self.log_done}

    def _ended(self) -> set[str]:
        return {job_id for job_id, fingerprint in self.sent.items() if JobState(fingerprint[0]).is_terminal}


def job_events(
    services: Services,
    request: StreamRequest,
    client_gone: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The event stream: ``job`` events (the job as the API shows it) and ``log`` events (the log's new size)."""
    stream = JobStream(services, request)
    started = last_write = clock()
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    while clock() - started < request.lifetime and not client_gone():
        now = clock()
        messages = [event("job", job) for job in stream.changed_jobs()]
        log = stream.log_event(now)
        if log is not None:
            messages.append(event("log", log))
        if not messages and now - last_write >= HEARTBEAT_SECONDS:
            messages.append(": keep-alive\n\n")
        if messages:
            last_write = now
            yield "".join(messages)
        sleep(POLL_SECONDS)
    yield event("bye", {"reconnect": True})
