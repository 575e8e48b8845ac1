"""One open live stream's queue: what it may see, and the newest state of each job not written to it yet.

The web process' hub offers every job change to every stream; a stream keeps only those its user may see (their own
jobs; admins all) and, per job, only the newest (a burst of changes to one job, or a client slow to read, costs one
entry per job, never a backlog). A stream that falls further behind than MAX_PENDING jobs is dropped: the client
reconnects with Last-Event-ID and is sent the current state of what it missed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

MAX_PENDING = 1000


@dataclass(frozen=True)
class Change:
    """A job as the API shows it, at change number ``seq``."""

    job_id: str
    owner_id: int
    seq: int
    terminal: bool
    data: str  # the job's JSON, rendered once per web process, not once per stream


@dataclass(frozen=True)
class LogSize:
    job_id: str
    size: int
    final: bool


def sse(name: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {data}\n\n"


def log_message(log: LogSize, event_id: int) -> str:
    return sse("log", json.dumps({"id": log.job_id, "size": log.size, "final": log.final}, separators=(",", ":")), event_id)


@dataclass(eq=False)  # streams are kept in sets, by identity
class Stream:
    """``floor``: every change up to this number is known to the client (sent, or shown by the stream's first
    state); ``shown``: the change number of each job the first state sent, so the hub's copy of it is not repeated."""

    user_id: int
    is_admin: bool
    floor: int = 0
    log_job: str | None = None
    max_pending: int = MAX_PENDING
    shown: dict[str, int] = field(default_factory=dict)
    log_final: bool = False  # the followed log's final size was sent
    dropped: str | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    _pending: dict[str, Change] = field(default_factory=dict)
    _logs: dict[str, LogSize] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def may_see(self, owner_id: int) -> bool:
        return self.is_admin or owner_id == self.user_id

    def offer(self, change: Change) -> None:
        """Queue a change if this stream may see it and has not had it; never blocks."""
        if not self.may_see(change.owner_id) or change.seq <= self.floor or change.seq <= self.shown.get(change.job_id, 0):
            return
        with self._lock:
            self._pending.pop(change.job_id, None)  # re-inserted last: the queue stays in change order
            self._pending[change.job_id] = change
            overflow = len(self._pending) > self.max_pending
        if overflow:
            self.drop(f"more than {self.max_pending} jobs behind")
        self.wake.set()

    def offer_log(self, log: LogSize) -> None:
        with self._lock:
            self._logs[log.job_id] = log
        self.wake.set()

    def take(self) -> str:
        """The queued changes as server-sent events, oldest change first, each job once; the floor moves past them."""
        with self._lock:
            changes, self._pending = list(self._pending.values()), {}
            logs, self._logs = list(self._logs.values()), {}
        parts = []
        for change in changes:
            if change.seq <= self.shown.get(change.job_id, 0):
                continue  # offered while the first state was read, and that state already had it
            self.floor = max(self.floor, change.seq)
            parts.append(sse("job", change.data, change.seq))
        parts += [log_message(log, self.floor) for log in logs]
        return "".join(parts)

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.wake.set()


def render(job: dict[str, Any]) -> str:
    return json.dumps(job, separators=(",", ":"))
