"""The consumer's one policy for an object store or broker outage during a job: wait it out with backoff rather
than fail the job (it is not the job's fault) or return it to the queue at once (it would run again from the start)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from consumer.errors import InfraError
from producer.publisher import PublishError
from storage.backoff import Backoff
from storage.objects import ObjectMissing, ObjectStoreError

LOGGER = logging.getLogger(__name__)

OUTAGE_PATIENCE_SECONDS = 900.0

T = TypeVar("T")


class Retry:
    """Runs an action again after each store or broker failure, until it succeeds, the outage outlasts ``patience``
    or the consumer shuts down (then InfraError: the job goes back to the queue). A missing object is no outage."""

    def __init__(
        self,
        job_id: str,
        shutdown: threading.Event,
        patience: float = OUTAGE_PATIENCE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.shutdown = shutdown
        self.patience = patience
        self.clock = clock

    def __call__(self, what: str, action: Callable[[], T]) -> T:
        backoff, deadline = Backoff(), self.clock() + self.patience
        while True:
            try:
                return action()
            except ObjectMissing as exc:
                raise InfraError(f"{what} failed: {exc}") from exc
            except (ObjectStoreError, PublishError) as exc:
                delay = backoff.next()
                if self.shutdown.is_set() or self.clock() + delay > deadline:
                    raise InfraError(f"{what} failed: {exc}") from exc
                LOGGER.warning("job %s: %s failed (%s); retrying in %.0f s", self.job_id, what, exc, delay)
                self.shutdown.wait(delay)
