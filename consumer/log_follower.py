"""A job's live log: followed from the container as it comes, snapshotted to the object store while the job runs
(so the researcher reads it live), read once more after the exit when the live copy may have lost lines."""

from __future__ import annotations

import logging
from typing import Any

import docker.errors
import requests

from consumer.logcapture import LogCapture
from storage.logmarks import METADATA_KEY
from storage.logmarks import encode as encode_marks
from storage.objects import ObjectStore, ObjectStoreError, log_key

LOGGER = logging.getLogger(__name__)

# Far below what fills Docker's 50 MB json-file log (each line costs some 60 bytes of JSON on top of its text).
ROTATION_SAFE_LOG_BYTES = 256 * 1024


class JobLog:
    """The job's log capture (replaced by the re-read copy when that saw more) and where it is stored."""

    def __init__(self, store: ObjectStore, job_id: str, max_bytes: int) -> None:
        self.store = store
        self.job_id = job_id
        self.capture = LogCapture(max_bytes)

    def follow(self, container: Any) -> None:
        """Capture stdout+stderr as it comes (the wait loop snapshots it to the object store, so the log is live)."""
        capture = self.capture  # a follow still running after a re-read must not write into the re-read copy
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                capture.write(chunk)
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.warning("job %s: following the log stopped early", self.job_id, exc_info=True)

    def needs_reread(self, before_run: LogCapture, follower_alive: bool) -> bool:
        """The live log is complete once its stream ended, unless Docker rotated its log file (only possible for
        large logs)."""
        return follower_alive or self.capture.total - before_run.total > ROTATION_SAFE_LOG_BYTES

    def reread(self, container: Any, before_run: LogCapture) -> None:
        """Read the finished container's log once more: a live follow can lose lines when Docker rotates its log
        file, a read after the exit does not. Keep whichever copy saw more."""
        again = before_run
        try:
            for chunk in container.logs(stream=True, follow=False, stdout=True, stderr=True):
                again.write(chunk)
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.warning("job %s: re-reading the log failed; keeping the live copy", self.job_id, exc_info=True)
            return
        if again.total >= self.capture.total:
            self.capture = again

    def snapshot(self) -> None:
        """Store the log as it stands; a snapshot lost to a store outage is harmless (the next or the final one follows)."""
        try:
            self.store_now()
        except ObjectStoreError as exc:
            LOGGER.warning("job %s: live log snapshot not stored: %s", self.job_id, exc)

    def store_now(self) -> None:
        data, marks = self.capture.snapshot()
        self.store.put_bytes(log_key(self.job_id), data, "text/plain; charset=utf-8", metadata={METADATA_KEY: encode_marks(marks)})
