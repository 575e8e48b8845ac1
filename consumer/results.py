"""What a job leaves behind: its output zip, log and result marker in the object store, and its events on the bus.
The result marker is stored before the final event is reported, so a redelivery finds it and never runs twice."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import docker
import docker.errors
import requests

from consumer.config import ConsumerConfig
from consumer.errors import InfraError
from consumer.job_files import output_untouched
from consumer.log_follower import JobLog
from consumer.output import empty_tar, tar_to_zip
from consumer.retry import Retry
from consumer.sandbox import OUTPUT_PATH
from consumer.usage import Usage
from producer.contract import JobEvent
from producer.publisher import PublishError
from storage.objects import ObjectStore, log_key, output_key, result_key
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

SPOOL_BYTES = 64 * 2**20

Report = Callable[[JobEvent], None]


@dataclass(eq=False, kw_only=True)
class Results:
    """One attempt's events and stored results; ``usage`` and ``environment`` are filled in as the job runs."""

    job_id: str
    attempt: int
    config: ConsumerConfig
    store: ObjectStore
    log: JobLog
    report: Report
    retry: Retry
    usage: Usage = field(default_factory=Usage)
    output_bytes: int | None = None
    environment: str | None = None  # base, cached or built: reported for the environment cache's metrics

    def event(self, state: JobState, reason: str, **fields: Any) -> JobEvent:
        return JobEvent(
            job_id=self.job_id,
            status=state.value,
            reason=reason,
            consumer=self.config.name,
            attempt=self.attempt,
            container_runtime=self.config.limits.container_runtime,
            **fields,
        )

    def progress(self, state: JobState, reason: str) -> None:
        """Report a step on the way; losing one is harmless (the final event follows), so it never stops the job."""
        event = self.event(state, reason)
        try:
            self.report(event)
        except PublishError as exc:
            LOGGER.warning("job %s: %s event not delivered: %s", self.job_id, event.status, exc)

    def collect_output(self, client: docker.DockerClient, container: Any, ships_output: bool) -> None:
        """Copy /job/output out through the Docker API and store it as the output zip.

        An output/ the job left as it was unpacked, empty, is not copied: each copy re-executes dockerd (some 50 ms
        of CPU), a cost a short job would pay for nothing.
        """
        stream = None
        try:
            if ships_output or not output_untouched(client, container):
                stream, _stat = container.get_archive(OUTPUT_PATH)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"copying output/ out failed: {exc}") from exc
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as zipped:
            summary = tar_to_zip(stream or empty_tar(), zipped, self.config.limits.max_output_bytes)
            if summary.skipped:
                self.log.capture.note(f"[labqueue] left out of the output (not regular files): {', '.join(summary.skipped)}")
            size = zipped.tell()
            self.retry("storing the output", lambda: _upload(self.store, output_key(self.job_id), zipped, size, "application/zip"))
            self.output_bytes = size

    def finish(self, state: JobState, reason: str, exit_code: int | None = None) -> JobEvent:
        """Store the log and the result marker, then report the final event (before the message is acked)."""
        final = self.event(
            state,
            reason,
            exit_code=exit_code,
            log_key=log_key(self.job_id),
            output_key=output_key(self.job_id) if self.output_bytes is not None else None,
            output_bytes=self.output_bytes,
            wall_seconds=self.usage.wall_seconds,
            cpu_seconds=self.usage.cpu_seconds,
            peak_memory_bytes=self.usage.peak_memory_bytes,
            environment=self.environment,
        )
        self.retry("storing the log", self.log.store_now)
        self.retry("storing the result", lambda: self.store.put_json(result_key(self.job_id), final.__dict__))
        self.retry("reporting the result", lambda: self.report(final))
        return final


def _upload(store: ObjectStore, key: str, source: IO[bytes], size: int, content_type: str) -> None:
    """Store a spooled file from its start (a retry sends it whole again)."""
    source.seek(0)
    store.put_stream(key, source, size, content_type)
