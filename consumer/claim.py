"""A job's claim in the object store: one run at a time, even when the broker redelivers a job that still runs.

The broker redelivers a message whose channel closed (a consumer timeout, a network cut) while the first run
goes on. The first run keeps a claim fresh; a later delivery that finds a fresh claim of another run waits for
that run's result instead of running the job again, and takes over only if the claim goes stale (its run died).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from storage.objects import ObjectStore, ObjectStoreError, claim_key

LOGGER = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
STALE_SECONDS = 30.0


@dataclass(frozen=True)
class Claim:
    consumer: str
    attempt: int
    token: str
    at: float

    def is_fresh(self, now: float) -> bool:
        return now - self.at < STALE_SECONDS


def read_claim(store: ObjectStore, job_id: str) -> Claim | None:
    data = store.get_json(claim_key(job_id))
    try:
        return Claim(**data) if data else None
    except TypeError:
        LOGGER.warning("job %s: unreadable claim %r ignored", job_id, data)
        return None


def release_claims(store: ObjectStore, job_ids: set[str], consumer: str) -> None:
    """Drop the claims a dead predecessor of this consumer left, so redeliveries of those jobs run at once."""
    for job_id in job_ids:
        try:
            claim = read_claim(store, job_id)
            if claim is not None and claim.consumer == consumer:
                store.remove(claim_key(job_id))
        except ObjectStoreError as exc:
            LOGGER.warning("job %s: stale claim not released (%s); it expires by itself", job_id, exc)


class ClaimKeeper:
    """Writes this run's claim and refreshes it from a thread until stopped."""

    def __init__(self, store: ObjectStore, job_id: str, consumer: str, attempt: int) -> None:
        self.store = store
        self.job_id = job_id
        self.claim = Claim(consumer=consumer, attempt=attempt, token=secrets.token_hex(8), at=time.time())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh, daemon=True, name=f"claim-{job_id[:8]}")

    def start(self) -> None:
        self._write()
        self._thread.start()

    def release(self) -> None:
        """Stop refreshing and remove the claim: this run is over, finished or given back to the queue."""
        self._stop.set()
        try:
            self.store.remove(claim_key(self.job_id))
        except ObjectStoreError as exc:
            LOGGER.warning("job %s: claim not released (%s); it goes stale by itself", self.job_id, exc)

    def _write(self) -> None:
        self.claim = Claim(self.claim.consumer, self.claim.attempt, self.claim.token, time.time())
        self.store.put_json(claim_key(self.job_id), self.claim.__dict__)

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self._write()
            except ObjectStoreError as exc:
                LOGGER.warning("job %s: claim not refreshed: %s", self.job_id, exc)
