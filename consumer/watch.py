"""Waiting on a job's running container: it ends at its exit, or is killed at the time limit, on cancel or at the
consumer's shutdown. The wait also keeps the live log stored and looks for a cancel the web wrote to the store."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from consumer.container import exited_within, kill
from consumer.errors import InfraError
from consumer.log_follower import JobLog
from storage.objects import ObjectStore, ObjectStoreError, cancel_key
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

LOG_SNAPSHOT_SECONDS = 3.0
CANCEL_POLL_SECONDS = 5.0
WAIT_STEP_SECONDS = 1.0

Stopped = tuple[JobState, str]  # why the job's container was killed before it exited


@dataclass(eq=False, kw_only=True)
class Watch:
    """Waits on each container of one job (its environment build's, then its run's) under the job's time limit."""

    job_id: str
    time_limit: int
    store: ObjectStore
    log: JobLog
    cancelled: threading.Event
    shutdown: threading.Event

    def wait(self, container: Any, started: float) -> Stopped | None:
        """Wait for the container to exit; kill it at the time limit or on cancel and say why."""
        deadline = started + self.time_limit
        next_cancel_poll = started + CANCEL_POLL_SECONDS
        next_snapshot, snapshot_version = started + LOG_SNAPSHOT_SECONDS, 0
        while True:
            if exited_within(container, WAIT_STEP_SECONDS):
                return None
            now = time.monotonic()
            if now >= next_snapshot and self.log.capture.version != snapshot_version:
                next_snapshot, snapshot_version = now + LOG_SNAPSHOT_SECONDS, self.log.capture.version
                self.log.snapshot()
            if now >= next_cancel_poll:
                next_cancel_poll = now + CANCEL_POLL_SECONDS
                if self._cancel_requested():
                    self.cancelled.set()
            if self.shutdown.is_set():
                kill(container)
                raise InfraError("the consumer is shutting down; the job goes back to the queue")
            if self.cancelled.is_set():
                kill(container)
                return JobState.CANCELLED, "cancelled while running"
            if now >= deadline:
                kill(container)
                return JobState.TIMED_OUT, f"stopped at the wall-clock limit of {self.time_limit} s"

    def _cancel_requested(self) -> bool:
        try:
            return self.store.exists(cancel_key(self.job_id))
        except ObjectStoreError:
            LOGGER.warning("job %s: cannot check for cancellation now", self.job_id)
            return False
