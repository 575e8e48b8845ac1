"""Server-sent events: a page (or the CLI) hears of its jobs' changes as they are recorded, without polling.

A stream holds no worker thread and runs no query of its own after its first state: the web process' hub
(webapp.live) offers it every change its user may see, and it writes them as they come (gunicorn's gevent worker
keeps thousands of such idle connections). Every event carries the change number it reflects; a client that
reconnects with Last-Event-ID (browsers do by themselves, so does the CLI) is sent the current state of every job of
its user changed since, so nothing is missed. A stream ends after a few minutes or when its client is gone.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy import select as sql_select
from sqlalchemy.orm import selectinload

from storage.changes import current_seq
from storage.db import Database
from storage.models import Job, utcnow
from storage.objects import ObjectStore, ObjectStoreError, log_key
from storage.states import JobState
from webapp.config import STREAM_RETRY_SECONDS
from webapp.job_fields import job_to_dict
from webapp.live import LiveHub
from webapp.streams import LogSize, Stream, log_message, render, sse

TICK_SECONDS = 5.0  # how often an idle stream checks that its client is still there
HEARTBEAT_SECONDS = 15.0
MAX_LIFETIME_SECONDS = 300.0
WRITE_TIMEOUT_SECONDS = 30.0  # a client that takes nothing for this long is dropped
MAX_WATCHED = 200
MAX_RESUMED = 500
# Jobs submitted this long before the stream opened count as new too: the page it serves may be that old.
NEW_JOB_MARGIN = timedelta(seconds=30)
ACTIVE = [state.value for state in JobState if not state.is_terminal]


@dataclass
class StreamRequest:
    """What the client asked for: jobs to watch besides its own unfinished ones, where it left off."""

    job_ids: set[str] = field(default_factory=set)
    last_event_id: int | None = None
    lifetime: float = MAX_LIFETIME_SECONDS


def parse_last_event_id(value: str | None) -> int | None:
    """The change number a reconnecting client saw last; anything else (a browser's own id, garbage) reads as none."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 18:
        return None
    return int(value.strip())


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


def first_state(db: Database, store: ObjectStore, stream: Stream, request: StreamRequest) -> str:
    """What the stream starts with, read after it was registered with the hub (so no change falls in between): the
    user's unfinished and new jobs, the ones asked about, everything changed since Last-Event-ID, and the followed
    log's size. Each job event carries the stream's floor: all the client needs up to it is in this first state."""
    with db.session() as session:
        now_seq = current_seq(session)
        resume = request.last_event_id if request.last_event_id is not None and request.last_event_id <= now_seq else None
        if resume is not None:
            stream.floor = max(stream.floor, resume)
        visible = visible_to(stream)
        mine = Job.owner_id == stream.user_id
        asked = and_(Job.id.in_(list(request.job_ids)[:MAX_WATCHED]), visible)
        watched = or_(and_(mine, Job.status.in_(ACTIVE)), and_(mine, Job.submitted_at >= utcnow() - NEW_JOB_MARGIN), asked)
        jobs = list(session.scalars(sql_select(Job).options(selectinload(Job.owner)).where(watched).order_by(Job.change_seq)))
        if resume is not None:
            missed = (
                sql_select(Job).options(selectinload(Job.owner)).where(visible, Job.change_seq > resume)
                .order_by(Job.change_seq.desc()).limit(MAX_RESUMED)
            )
            seen = {job.id for job in jobs}
            jobs += [job for job in session.scalars(missed) if job.id not in seen]
            jobs.sort(key=lambda job: job.change_seq)
        parts = [f"retry: {STREAM_RETRY_SECONDS * 1000}\nid: {stream.floor}\n\n"]
        log_status = None
        for job in jobs:
            stream.shown[job.id] = job.change_seq
            parts.append(sse("job", render(job_to_dict(job)), stream.floor))
            if job.id == stream.log_job:
                log_status = job.status
        if stream.log_job is not None and log_status is None:
            log_job = session.get(Job, stream.log_job)
            log_status = log_job.status if log_job is not None else JobState.CANCELLED.value
    if stream.log_job is not None:
        final = JobState(log_status).is_terminal
        try:
            size = store.size(log_key(stream.log_job)) or 0
        except ObjectStoreError:
            size, final = 0, False  # the hub's next check tells
        parts.append(log_message(LogSize(stream.log_job, size, final), stream.floor))
        stream.log_final = final
    return "".join(parts)


def visible_to(stream: Stream) -> ColumnElement[bool]:
    """The jobs this stream's user may see: their own; an admin, all."""
    return true() if stream.is_admin else Job.owner_id == stream.user_id


def job_events(
    hub: LiveHub,
    store: ObjectStore,
    stream: Stream,
    request: StreamRequest,
    client_gone: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """The event stream: ``job`` events (the job as the API shows it), ``log`` events (the followed log's size),
    heartbeats, and ``bye`` when it ends by itself (the client reconnects)."""
    first = first_state(hub.db, store, stream, request)
    if stream.log_final:
        hub.unfollow(stream)
    yield first
    started = last_write = clock()
    while not stream.dropped:
        stream.wake.wait(TICK_SECONDS)
        stream.wake.clear()
        now = clock()
        if client_gone():
            return
        if now - started >= request.lifetime:
            break
        message = stream.take()
        if not message and now - last_write >= HEARTBEAT_SECONDS:
            message = ": keep-alive\n\n"
        if message:
            last_write = now
            yield message
    yield sse("bye", '{"reconnect":true}', stream.floor)
