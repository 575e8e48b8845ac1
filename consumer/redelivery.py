"""What a delivery finds of the job's earlier deliveries before it runs anything: a stored result (report it
again), a cancel, or a fresh claim of another run that is alive (await its result). A message can be delivered
more than once (a lost ack, a consumer cut off from the broker); the job must still run at most once at a time."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from consumer.claim import Claim, read_claim
from consumer.errors import InfraError
from consumer.results import Report
from consumer.retry import Retry
from producer.contract import JobEvent, parse
from storage.objects import ObjectStore, cancel_key, claim_key, job_prefix, result_key

LOGGER = logging.getLogger(__name__)

AWAIT_POLL_SECONDS = 2.0


@dataclass(eq=False, kw_only=True)
class Redelivery:
    """Looks up one job's earlier deliveries in the object store."""

    store: ObjectStore
    job_id: str
    retry: Retry
    report: Report
    cancelled: threading.Event
    shutdown: threading.Event

    def final_without_running(self, cancel: Callable[[], JobEvent]) -> JobEvent | None:
        """The job's final event when this delivery must not run it: the job finished already, was cancelled (then
        ``cancel`` ends it), or another run of it is alive (and its result is awaited). None when this delivery runs
        the job.

        One listing of the job's objects tells which applies; three lookups that almost always find nothing would
        cost three requests."""
        present = self.retry("looking up the job's objects", lambda: self.store.keys_under(job_prefix(self.job_id)))
        if result_key(self.job_id) in present and (previous := self.retry("reading the earlier result", self._stored_result)):
            LOGGER.info("job %s already finished (%s); reporting again, not running", self.job_id, previous.status)
            self.retry("reporting the earlier result", lambda: self.report(previous))
            return previous
        if self.cancelled.is_set() or cancel_key(self.job_id) in present:
            return cancel()
        if claim_key(self.job_id) in present:
            other = self.retry("reading the job's claim", lambda: read_claim(self.store, self.job_id))
            if other is not None and other.is_fresh(time.time()):
                return self._await_other_run(other)
        return None

    def _await_other_run(self, other: Claim) -> JobEvent | None:
        """Another run of this job is alive (this is a redelivery): report its result when it comes, never run twice.

        Returns None when that run died (its claim went stale): this delivery then runs the job.
        """
        LOGGER.info("job %s is running on %s (attempt %d); waiting for its result", self.job_id, other.consumer, other.attempt)
        while not self.shutdown.wait(AWAIT_POLL_SECONDS):
            final = self.retry("checking for the other run's result", self._stored_result)
            if final is not None:
                self.retry("reporting the other run's result", functools.partial(self.report, final))
                return final
            claim = self.retry("reading the job's claim", lambda: read_claim(self.store, self.job_id))
            if claim is None or not claim.is_fresh(time.time()):
                LOGGER.warning("job %s: the run on %s went silent; running it here", self.job_id, other.consumer)
                return None
        raise InfraError("the consumer is shutting down; the job goes back to the queue")

    def _stored_result(self) -> JobEvent | None:
        data = self.store.get_json(result_key(self.job_id))
        return parse(data, JobEvent) if data else None
