"""The web process' live-updates hub: ONE subscription to the bus, fanned out in memory to this process' streams.

The producer (and any web process) announces "jobs changed up to N" on the live exchange (producer.announce); the
hub then reads the jobs changed since the last number it saw, once, renders each once, and offers it to every open
stream that may see it (webapp.streams). A missed notice costs nothing but time: the hub also catches up on a short
timer, more often while the subscription is down. Logs of jobs that open pages follow are checked here too, once per
job per process, not once per stream.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

import pika
import pika.exceptions
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from producer.announce import ChangeAnnouncer
from producer.config import BrokerConfig
from producer.publisher import connection_parameters
from producer.topology import LIVE_EXCHANGE, declare_live
from storage import leases
from storage.backoff import Backoff, keep_connected
from storage.changes import current_seq
from storage.db import Database
from storage.models import Job
from storage.objects import ObjectStore, ObjectStoreError, log_key
from storage.states import JobState
from webapp.job_fields import job_to_dict
from webapp.streams import Change, LogSize, Stream, render

LOGGER = logging.getLogger(__name__)

PASS_SECONDS = 5.0  # catch-up pass while subscribed: only a safety net for lost notices
FALLBACK_SECONDS = 1.0  # catch-up pass while the subscription is down: streams stay live, a second late
LOG_CHECK_SECONDS = 2.0
BATCH = 500
BROKER_ERRORS = (pika.exceptions.AMQPError, OSError)


class LiveHub:
    def __init__(self, db: Database, store: ObjectStore, broker: BrokerConfig, streams_per_user: int) -> None:
        self.db = db
        self.store = store
        self.broker = broker
        self.streams_per_user = streams_per_user
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.announcer = ChangeAnnouncer(broker)
        self.last_seq = 0
        self._subscribed = threading.Event()
        self.problem = "starting"
        self._by_user: dict[int, set[Stream]] = {}
        self._admins: set[Stream] = set()
        self._followers: dict[str, set[Stream]] = {}
        self._log_sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._started_by: int | None = None

    # ---- life ------------------------------------------------------------------------------------------------
    def ensure_started(self) -> None:
        """Start the threads in the serving process (gunicorn forks workers after the app is built, so not then)."""
        with self._lock:
            if self._started_by == os.getpid():
                return
            self._started_by = os.getpid()
            self.holder = f"{socket.gethostname()}:{os.getpid()}"
        with self.db.session() as session:
            self.last_seq = current_seq(session)
        self.announcer.start(self._stop)
        threading.Thread(target=self._subscribe, name="live-subscription", daemon=True).start()
        threading.Thread(target=self._fan_out, name="live-fan-out", daemon=True).start()

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until the subscription is up (or ``timeout`` passes): gunicorn's post_worker_init calls this, so a
        worker takes its first request with its hub live and health is true from the first answer."""
        return self._subscribed.wait(timeout)

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def status(self) -> str:
        return "ok" if self.subscribed else f"error: {self.problem}"

    def changed(self, seq: int) -> None:
        """A database change listener: this process' own commits reach its streams at once, others' by the bus."""
        self.announcer.changed(seq)
        self._wake.set()

    # ---- streams ---------------------------------------------------------------------------------------------
    def acquire(self, user_id: int) -> int | None:
        """A lease for one more stream of this user (the cap counts every web process), or None past the cap."""
        with self.db.session() as session:
            return leases.acquire(session, user_id, self.holder, self.streams_per_user)

    def open(self, stream: Stream) -> None:
        """Register a stream (and its log follow); every change after its floor (at least the hub's position now) will
        be offered, and the end of a followed job after it brings the log's final size."""
        with self._lock:
            stream.floor = max(stream.floor, self.last_seq)
            (self._admins if stream.is_admin else self._by_user.setdefault(stream.user_id, set())).add(stream)
            if stream.log_job is not None:
                self._followers.setdefault(stream.log_job, set()).add(stream)
        if stream.log_job is not None:
            self._wake.set()

    def close(self, stream: Stream, lease_id: int | None) -> None:
        with self._lock:
            self._admins.discard(stream)
            users = self._by_user.get(stream.user_id)
            if users is not None:
                users.discard(stream)
                if not users:
                    del self._by_user[stream.user_id]
            self._unfollow(stream)
        if lease_id is not None:
            try:
                with self.db.session() as session:
                    leases.release(session, lease_id)
            except SQLAlchemyError as exc:
                LOGGER.warning("stream lease %d not released (it expires by itself): %s", lease_id, exc)

    def unfollow(self, stream: Stream) -> None:
        """The followed log is final already: nothing more to check for this stream."""
        with self._lock:
            self._unfollow(stream)

    def _unfollow(self, stream: Stream) -> None:
        if stream.log_job is not None and (followers := self._followers.get(stream.log_job)) is not None:
            followers.discard(stream)
            if not followers:
                del self._followers[stream.log_job]
                self._log_sizes.pop(stream.log_job, None)

    def open_streams(self) -> int:
        with self._lock:
            return len(self._admins) + sum(len(streams) for streams in self._by_user.values())

    # ---- the subscription ------------------------------------------------------------------------------------
    def _subscribe(self) -> None:
        keep_connected(self._stop, self._listen, BROKER_ERRORS, "live updates: subscription lost", LOGGER)

    def _listen(self, backoff: Backoff) -> None:
        """One subscription to the change announcements, held until the hub stops or the broker goes away."""
        connection = None
        try:
            connection = pika.BlockingConnection(connection_parameters(self.broker))
            channel = connection.channel()
            declare_live(channel)
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(queue, LIVE_EXCHANGE)
            channel.basic_consume(queue, self._on_notice, auto_ack=True)
            self.problem = ""
            self._subscribed.set()
            self._wake.set()  # catch up on what was announced while unsubscribed
            backoff.reset()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=1)
        except BROKER_ERRORS as exc:
            self._subscribed.clear()
            self.problem = f"subscription lost: {exc!r}"
            raise
        finally:
            if connection is not None and connection.is_open:
                try:
                    connection.close()
                except BROKER_ERRORS:
                    LOGGER.debug("closing a broken connection failed", exc_info=True)

    def _on_notice(self, _channel: object, _method: object, _props: object, body: bytes) -> None:
        try:
            seq = int(json.loads(body)["seq"])
        except (ValueError, KeyError, TypeError):
            LOGGER.warning("live updates: malformed notice %r", body[:200])
            return
        if seq > self.last_seq:
            self._wake.set()

    # ---- the fan-out -----------------------------------------------------------------------------------------
    def _fan_out(self) -> None:
        next_renew = 0.0
        while not self._stop.is_set():
            wait = PASS_SECONDS if self.subscribed else FALLBACK_SECONDS
            if self._followers:
                wait = min(wait, LOG_CHECK_SECONDS)
            self._wake.wait(wait)
            self._wake.clear()
            try:
                self._catch_up()
                self._check_logs()
                if time.monotonic() >= next_renew:
                    with self.db.session() as session:
                        leases.renew(session, self.holder)
                    next_renew = time.monotonic() + leases.RENEW_SECONDS
            except SQLAlchemyError as exc:
                LOGGER.warning("live updates: database pass failed (%s); retrying", exc)

    def _catch_up(self) -> None:
        while True:
            with self.db.session() as session:
                query = (
                    select(Job).options(selectinload(Job.owner)).where(Job.change_seq > self.last_seq)
                    .order_by(Job.change_seq).limit(BATCH)
                )
                changes = [
                    Change(job.id, job.owner_id, job.change_seq, JobState(job.status).is_terminal, render(job_to_dict(job)))
                    for job in session.scalars(query)
                ]
            if changes:
                self._dispatch(changes)
            if len(changes) < BATCH:
                return

    def _dispatch(self, changes: list[Change]) -> None:
        with self._lock:
            self.last_seq = changes[-1].seq
            admins = list(self._admins)
            users = {change.owner_id: list(self._by_user.get(change.owner_id, ())) for change in changes}
            ended = [(c.job_id, list(self._followers.pop(c.job_id, ()))) for c in changes if c.terminal and c.job_id in self._followers]
        for change in changes:
            for stream in users[change.owner_id]:
                stream.offer(change)
            for stream in admins:
                stream.offer(change)
        for job_id, followers in ended:  # the consumer stores the whole log before it reports the end
            self._log_sizes.pop(job_id, None)
            size = self._log_size(job_id)
            for stream in followers:
                stream.offer_log(LogSize(job_id, size or 0, final=True))

    def _check_logs(self) -> None:
        with self._lock:
            followed = {job_id: list(streams) for job_id, streams in self._followers.items()}
        for job_id, streams in followed.items():
            size = self._log_size(job_id)
            if size is None or size == self._log_sizes.get(job_id):
                continue
            self._log_sizes[job_id] = size
            for stream in streams:
                stream.offer_log(LogSize(job_id, size, final=False))

    def _log_size(self, job_id: str) -> int | None:
        try:
            return self.store.size(log_key(job_id)) or 0
        except ObjectStoreError as exc:
            LOGGER.warning("log size of job %s unknown: %s", job_id, exc)
            return None
