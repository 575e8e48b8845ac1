"""One job's life on a consumer: claim, fetch input, environment, container, collect output and log, report."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import socket
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, TypeVar

import docker
import docker.errors
import requests
import urllib3.exceptions

from consumer.claim import Claim, ClaimKeeper, read_claim
from consumer.cleanup import remove_job_leftovers
from consumer.config import ConsumerConfig
from consumer.datasets import DatasetCache
from consumer.disk import create_bounded_volume
from consumer.environments import BuildPlan, EnvironmentCache
from consumer.errors import InfraError, JobError
from consumer.job_files import attach_stdin, output_untouched, send_input
from consumer.logcapture import LogCapture
from consumer.output import OutputTooLarge, empty_tar, tar_to_zip
from consumer.sandbox import (
    BUILD_MOUNT,
    BUILD_REQUIREMENTS,
    ENV_DIR,
    JOB_USER,
    OUTPUT_PATH,
    JobLimits,
    build_container_spec,
    build_volume_name,
    container_spec,
    labels,
    volume_name,
)
from producer.contract import JobEvent, JobMessage, parse
from producer.publisher import PublishError
from storage.archive import JOB_UID, ArchiveError, ArchiveLimits, inspect_zip, read_member, zip_to_tar
from storage.backoff import Backoff
from storage.logmarks import METADATA_KEY
from storage.logmarks import encode as encode_marks
from storage.objects import (
    ObjectMissing,
    ObjectStore,
    ObjectStoreError,
    cancel_key,
    claim_key,
    job_prefix,
    log_key,
    output_key,
    result_key,
)
from storage.requirements import MAX_REQUIREMENTS_BYTES
from storage.runtimes import Runtime
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

SPOOL_BYTES = 64 * 2**20
LOG_SNAPSHOT_SECONDS = 3.0
CANCEL_POLL_SECONDS = 5.0
WAIT_STEP_SECONDS = 1.0
AWAIT_POLL_SECONDS = 2.0
OUTAGE_PATIENCE_SECONDS = 900.0
USAGE_SAMPLE_SECONDS = 0.25
FIRST_SAMPLE_SECONDS = 0.5
# Far below what fills Docker's 50 MB json-file log (each line costs some 60 bytes of JSON on top of its text).
ROTATION_SAFE_LOG_BYTES = 256 * 1024

Report = Callable[[JobEvent], None]
T = TypeVar("T")


@dataclass
class Usage:
    """What the engine reports about a run; peak memory and CPU come from the container's cgroup statistics."""

    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None


def _docker_time(stamp: str) -> float:
    """Seconds since the epoch of a time as Docker writes it (RFC 3339, nanoseconds cut to microseconds)."""
    return datetime.fromisoformat(stamp).timestamp()


def _exited_within(container: Any, seconds: float) -> bool:
    """True once the container exited, False while it still runs after ``seconds``.

    Raises InfraError when the Docker daemon is gone: that is no reason to wait on (the job goes back to the queue).
    """
    try:
        container.wait(timeout=seconds)
        return True
    except requests.exceptions.ReadTimeout:  # over TCP, an expired wait(timeout=) is a ReadTimeout
        return False
    except requests.exceptions.ConnectionError as exc:
        # docker-py quirk: over its unix socket an expired wait(timeout=) raises ConnectionError(ReadTimeoutError)
        # rather than ReadTimeout. Any other ConnectionError (refused, reset) means the daemon is unreachable.
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            return False
        raise InfraError(f"the Docker daemon is unreachable while the job runs: {exc}") from exc
    except requests.RequestException as exc:  # e.g. the daemon died mid-answer (ChunkedEncodingError)
        raise InfraError(f"the Docker daemon is unreachable while the job runs: {exc}") from exc


_BUILD_STOPPED = {
    JobState.TIMED_OUT: "stopped at the wall-clock limit of {limit} s while building the environment",
    JobState.CANCELLED: "cancelled while building the environment",
}


def _build_input(requirements: str) -> bytes:
    """A tar for BUILD_MOUNT: ENV_DIR, owned by the job user, and the requirements to install into it."""
    buffer = io.BytesIO()
    data = requirements.encode()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(os.path.relpath(ENV_DIR, BUILD_MOUNT))
        folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o755, JOB_UID, JOB_UID
        tar.addfile(folder)
        listing = tarfile.TarInfo(os.path.relpath(BUILD_REQUIREMENTS, BUILD_MOUNT))
        listing.size, listing.mode = len(data), 0o644
        tar.addfile(listing, io.BytesIO(data))
    return buffer.getvalue()


class JobRun:
    """Runs one job message to its final event. Raises InfraError when the infrastructure, not the job, failed."""

    def __init__(
        self,
        *,
        message: JobMessage,
        attempt: int,
        config: ConsumerConfig,
        runtime: Runtime,
        client: docker.DockerClient,
        store: ObjectStore,
        environments: EnvironmentCache,
        datasets: DatasetCache,
        report: Report,
        cancelled: threading.Event,
        shutdown: threading.Event,
    ) -> None:
        self.message = message
        self.job_id = message.job_id
        self.attempt = attempt
        self.config = config
        self.runtime = runtime
        self.client = client
        self.store = store
        self.environments = environments
        self.datasets = datasets
        self.report = report
        self.cancelled = cancelled
        self.shutdown = shutdown
        self.limits = JobLimits.clamp(message.time_limit, message.memory_limit, message.disk_limit, config.limits)
        self.log = LogCapture(config.limits.max_log_bytes)
        self.archive_limits = ArchiveLimits(max_upload_bytes=config.limits.max_input_bytes)
        self.usage = Usage()
        self.output_bytes: int | None = None
        self.environment: str | None = None  # base, cached or built: reported for the environment cache's metrics
        self._cpu_samples: deque[tuple[float, float]] = deque(maxlen=2)  # (Docker's time of the reading, CPU seconds)
        self._container: Any = None
        self._clock_started: float | None = None  # the time limit runs from the first of the build and the run

    # -- reporting -------------------------------------------------------------------------------

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

    def _progress(self, event: JobEvent) -> None:
        """Report a step on the way; losing one is harmless (the final event follows), so it never stops the job."""
        try:
            self.report(event)
        except PublishError as exc:
            LOGGER.warning("job %s: %s event not delivered: %s", self.job_id, event.status, exc)

    # -- the life ------------------------------------------------------------------------------

    def run(self) -> JobEvent:
        """Run the job and return its final event, already stored as the job's result and reported."""
        settled = self._final_without_running()
        if settled is not None:
            return settled
        keeper = ClaimKeeper(self.store, self.job_id, self.config.name, self.attempt)
        self._retry("claiming the job", keeper.start)
        try:
            self._progress(self.event(JobState.PREPARING, "fetching input and preparing the environment"))
            try:
                return self._run_in_container()
            except JobError as exc:
                return self._finish(exc.state, exc.reason, exc.exit_code)
        finally:
            keeper.release()

    def _final_without_running(self) -> JobEvent | None:
        """The job's final event when this delivery must not run it: the job finished already, was cancelled, or
        another run of it is alive (and its result is awaited). None when this delivery runs the job.

        One listing of the job's objects tells which applies; three lookups that almost always find nothing would
        cost three requests."""
        present = self._retry("looking up the job's objects", lambda: self.store.keys_under(job_prefix(self.job_id)))
        if result_key(self.job_id) in present and (previous := self._retry("reading the earlier result", self._stored_result)):
            LOGGER.info("job %s already finished (%s); reporting again, not running", self.job_id, previous.status)
            self._retry("reporting the earlier result", lambda: self.report(previous))
            return previous
        if self.cancelled.is_set() or cancel_key(self.job_id) in present:
            return self._finish(JobState.CANCELLED, "cancelled before it started")
        if claim_key(self.job_id) in present:
            other = self._retry("reading the job's claim", lambda: read_claim(self.store, self.job_id))
            if other is not None and other.is_fresh(time.time()):
                return self._await_other_run(other)
        return None

    def _await_other_run(self, other: Claim) -> JobEvent | None:
        """Another run of this job is alive (this is a redelivery): report its result when it comes, never run twice.

        Returns None when that run died (its claim went stale): this delivery then runs the job.
        """
        LOGGER.info("job %s is running on %s (attempt %d); waiting for its result", self.job_id, other.consumer, other.attempt)
        while not self.shutdown.wait(AWAIT_POLL_SECONDS):
            final = self._retry("checking for the other run's result", self._stored_result)
            if final is not None:
                self._retry("reporting the other run's result", functools.partial(self.report, final))
                return final
            claim = self._retry("reading the job's claim", lambda: read_claim(self.store, self.job_id))
            if claim is None or not claim.is_fresh(time.time()):
                LOGGER.warning("job %s: the run on %s went silent; running it here", self.job_id, other.consumer)
                return None
        raise InfraError("the consumer is shutting down; the job goes back to the queue")

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Wait out object-store and broker outages with backoff, instead of failing or re-running the job."""
        backoff, deadline = Backoff(), time.monotonic() + OUTAGE_PATIENCE_SECONDS
        while True:
            try:
                return action()
            except ObjectMissing as exc:
                raise InfraError(f"{what} failed: {exc}") from exc
            except (ObjectStoreError, PublishError) as exc:
                delay = backoff.next()
                if self.shutdown.is_set() or time.monotonic() + delay > deadline:
                    raise InfraError(f"{what} failed: {exc}") from exc
                LOGGER.warning("job %s: %s failed (%s); retrying in %.0f s", self.job_id, what, exc, delay)
                self.shutdown.wait(delay)

    def _stored_result(self) -> JobEvent | None:
        data = self.store.get_json(result_key(self.job_id))
        return parse(data, JobEvent) if data else None

    def _cancel_requested(self) -> bool:
        try:
            return self.store.exists(cancel_key(self.job_id))
        except ObjectStoreError:
            LOGGER.warning("job %s: cannot check for cancellation now", self.job_id)
            return False

    def _run_in_container(self) -> JobEvent:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as zipped:
            self._retry("fetching the input", lambda: self._download(self.message.input_key, zipped))
            try:
                info = inspect_zip(zipped, "input.zip", self.runtime.name, self.archive_limits)
                requirements = read_member(zipped, info, "requirements.txt", MAX_REQUIREMENTS_BYTES, self.archive_limits)
            except ArchiveError as exc:
                raise JobError(JobState.FAILED, f"input rejected: {exc}") from exc
            image, self.environment = self.environments.environment_for(self.runtime, requirements, self.log, self._build_environment)
            datasets = self.datasets.volumes_for(self.message.datasets, self.log)
            if self.cancelled.is_set():
                raise JobError(JobState.CANCELLED, "cancelled before it started")
            if self.attempt > 1:
                remove_job_leftovers(self.client, self.job_id)  # an earlier attempt here whose consumer died
            container = self._create_container(image, datasets)
            try:
                return self._finish(*self._execute(container, zip_to_tar(zipped, info, self.archive_limits), info.ships_output))
            except JobError as exc:
                return self._finish(exc.state, exc.reason, exc.exit_code)
            finally:
                # Removed by clean_up(), after the message is settled: the researcher and the next job need not wait.
                self._container = container

    def _download(self, key: str, target: IO[bytes]) -> None:
        target.seek(0)
        target.truncate()
        self.store.download_to(key, target)

    def _upload(self, key: str, source: IO[bytes], size: int, content_type: str) -> None:
        source.seek(0)
        self.store.put_stream(key, source, size, content_type)

    def _clock(self) -> float:
        """When the job's time limit started to run: at its environment build, if it has one, else at its start."""
        if self._clock_started is None:
            self._clock_started = time.monotonic()
        return self._clock_started

    def _create_volume(self, name: str) -> None:
        """Every volume the job writes to, its /job and its environment build's, is made here, bounded alike."""
        create_bounded_volume(self.client, name, self.limits.disk_mib, JOB_USER, labels(self.job_id, self.config.name))

    @contextlib.contextmanager
    def _build_environment(self, plan: BuildPlan) -> Iterator[Iterator[bytes]]:
        """Run an environment build as a step of the job, under its sandbox, time limit and cancel; yields the
        installed tree (a tar of ENV_DIR) for the environment cache to commit, then removes container and volume."""
        volume = build_volume_name(self.job_id, self.attempt)
        container = None
        try:
            self._create_volume(volume)
            container = self.client.containers.create(
                **build_container_spec(
                    job_id=self.job_id,
                    attempt=self.attempt,
                    consumer=self.config.name,
                    image=plan.image,
                    command=plan.command,
                    environment=plan.environment,
                    network=plan.network,
                    job=self.limits,
                    limits=self.config.limits,
                )
            )
            container.put_archive(BUILD_MOUNT, _build_input(plan.requirements))
            container.start()
            log_follower = threading.Thread(target=self._follow_log, args=(container, self.log), daemon=True)
            log_follower.start()
            stop_reason = self._wait(container, self._clock())
            log_follower.join(timeout=5)
            if stop_reason is not None:
                state, _reason = stop_reason
                raise JobError(state, _BUILD_STOPPED[state].format(limit=self.limits.time_limit))
            container.reload()
            state = container.attrs["State"]
            if state.get("OOMKilled"):
                raise JobError(JobState.OUT_OF_MEMORY, f"building the environment was killed at the memory limit of {self.limits.memory_mib} MiB")
            if state.get("ExitCode") != 0:
                raise JobError(JobState.FAILED, f"installing requirements.txt failed (exit code {state.get('ExitCode')}): {plan.failure_hint}")
            tree, _stat = container.get_archive(ENV_DIR)
            yield tree
        except docker.errors.ImageNotFound as exc:
            raise InfraError(f"image {plan.image} is missing on this Docker host: {exc}") from exc
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"the environment build failed in Docker: {exc}") from exc
        finally:
            if container is not None:
                self._remove_container(container)
            self._remove_volume(volume)

    def _create_container(self, image: str, datasets: dict[str, str]) -> Any:
        try:
            self._create_volume(volume_name(self.job_id, self.attempt))
            spec = container_spec(
                job_id=self.job_id,
                attempt=self.attempt,
                consumer=self.config.name,
                image=image,
                command=self.runtime.command,
                job=self.limits,
                limits=self.config.limits,
                datasets=datasets,
            )
            return self.client.containers.create(**spec)
        except docker.errors.ImageNotFound as exc:
            self._remove_volume()
            raise InfraError(f"image {image} is missing on this Docker host: {exc}") from exc
        except docker.errors.APIError as exc:
            self._remove_volume()
            raise InfraError(f"creating the container failed: {exc}") from exc

    def _execute(self, container: Any, project_tar: Iterator[bytes], ships_output: bool) -> tuple[JobState, str, int | None]:
        self._progress(self.event(JobState.RUNNING, "running"))
        started = time.monotonic()
        try:
            stdin = attach_stdin(self.client, container)
            container.start()
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"starting the container failed: {exc}") from exc
        LOGGER.info("job %s: container started (attempt %d)", self.job_id, self.attempt)
        self._send_project(container, stdin, project_tar)
        before_run = self.log.checkpoint()
        exited = threading.Event()
        log_follower = threading.Thread(target=self._follow_log, args=(container, self.log), daemon=True)
        sampler = threading.Thread(target=self._sample_usage, args=(container, exited), daemon=True)
        log_follower.start()
        sampler.start()
        try:
            stop_reason = self._wait(container, self._clock())
        finally:
            exited.set()
        exited_at = time.monotonic()
        self.usage.wall_seconds = round(exited_at - started, 3)
        # The live log is complete once its stream ended, unless Docker rotated its log file (only possible for large
        # logs): then it is read again.
        log_follower.join(timeout=0.2)
        if log_follower.is_alive() or self.log.total - before_run.total > ROTATION_SAFE_LOG_BYTES:
            self._reread_log(container, before_run)
        container.reload()
        state = container.attrs["State"]
        # A stats call racing the exit can block for most of a second: the sampler is not waited for, the CPU time
        # after its last sample is extrapolated instead.
        self._add_cpu_tail(_docker_time(state["StartedAt"]), _docker_time(state["FinishedAt"]))
        exit_code = state.get("ExitCode")
        if stop_reason is not None and stop_reason[0] is JobState.CANCELLED:
            return stop_reason[0], stop_reason[1], None
        try:
            self._collect_output(container, ships_output)  # also after a timeout or OOM kill: partial results help
        except OutputTooLarge as exc:
            return JobState.OUTPUT_TOO_LARGE, str(exc), exit_code
        if stop_reason is not None:
            return stop_reason[0], stop_reason[1], None
        if state.get("OOMKilled"):
            return JobState.OUT_OF_MEMORY, f"killed at the memory limit of {self.limits.memory_mib} MiB", exit_code
        if exit_code == 0:
            return JobState.SUCCEEDED, "exited with code 0", 0
        return JobState.FAILED, f"exited with code {exit_code}", exit_code

    def _send_project(self, container: Any, stdin: socket.socket, project_tar: Iterator[bytes]) -> None:
        try:
            send_input(stdin, project_tar)
        except ArchiveError as exc:
            self._kill(container)
            raise JobError(JobState.FAILED, f"input rejected: {exc}") from exc
        except OSError as exc:  # Docker went away, or tar in the sandbox stopped reading (e.g. its volume is full)
            self._kill(container)
            raise InfraError(f"copying the project into the container failed: {exc}") from exc

    def _wait(self, container: Any, started: float) -> tuple[JobState, str] | None:
        """Wait for the container to exit; kill it at the time limit or on cancel and say why."""
        deadline = started + self.limits.time_limit
        next_cancel_poll = started + CANCEL_POLL_SECONDS
        next_snapshot, snapshot_version = started + LOG_SNAPSHOT_SECONDS, 0
        while True:
            if _exited_within(container, WAIT_STEP_SECONDS):
                return None
            now = time.monotonic()
            if now >= next_snapshot and self.log.version != snapshot_version:
                next_snapshot, snapshot_version = now + LOG_SNAPSHOT_SECONDS, self.log.version
                self._snapshot_log()
            if now >= next_cancel_poll:
                next_cancel_poll = now + CANCEL_POLL_SECONDS
                if self._cancel_requested():
                    self.cancelled.set()
            if self.shutdown.is_set():
                self._kill(container)
                raise InfraError("the consumer is shutting down; the job goes back to the queue")
            if self.cancelled.is_set():
                self._kill(container)
                return JobState.CANCELLED, "cancelled while running"
            if now >= deadline:
                self._kill(container)
                return JobState.TIMED_OUT, f"stopped at the wall-clock limit of {self.limits.time_limit} s"

    def _kill(self, container: Any) -> None:
        try:
            container.kill()
            container.wait(timeout=30)
        except docker.errors.APIError as exc:
            if "is not running" not in str(exc):
                raise InfraError(f"killing the container failed: {exc}") from exc
        except requests.RequestException as exc:
            raise InfraError(f"killing the container failed, the Docker daemon is unreachable: {exc}") from exc

    def _follow_log(self, container: Any, capture: LogCapture) -> None:
        """Capture stdout+stderr as it comes (the wait loop snapshots it to the object store, so the log is live)."""
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                capture.write(chunk)
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.warning("job %s: following the log stopped early", self.job_id, exc_info=True)

    def _reread_log(self, container: Any, before_run: LogCapture) -> None:
        """Read the finished container's log once more: a live follow can lose lines when Docker rotates its log
        file, a read after the exit does not. Keep whichever copy saw more."""
        again = before_run
        try:
            for chunk in container.logs(stream=True, follow=False, stdout=True, stderr=True):
                again.write(chunk)
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.warning("job %s: re-reading the log failed; keeping the live copy", self.job_id, exc_info=True)
            return
        if again.total >= self.log.total:
            self.log = again

    def _sample_usage(self, container: Any, exited: threading.Event) -> None:
        """Sample the container's cgroup statistics while it runs: peak memory and CPU time.

        The first sample waits FIRST_SAMPLE_SECONDS: Docker answers most stats calls at the next tick of its
        once-a-second collector, so for a job that ends sooner the answer came after the exit and was thrown away
        below, having cost dockerd and containerd ~5 ms of CPU. Such short jobs report no CPU time or peak memory.
        """
        if exited.wait(FIRST_SAMPLE_SECONDS):
            return
        while True:
            try:
                stats = container.stats(stream=False, one_shot=True)
            except (docker.errors.APIError, requests.RequestException):
                LOGGER.debug("job %s: no stats", self.job_id, exc_info=True)
                stats = {}
            if exited.is_set():
                return  # answered after the exit: the CPU tail is extrapolated from the samples before it
            memory = stats.get("memory_stats") or {}
            peak = memory.get("max_usage") or memory.get("usage")
            if peak:
                self.usage.peak_memory_bytes = max(self.usage.peak_memory_bytes or 0, peak)
            cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
            if cpu and stats.get("read"):
                self.usage.cpu_seconds = round(cpu / 1e9, 3)
                self._cpu_samples.append((_docker_time(stats["read"]), cpu / 1e9))
            if exited.wait(USAGE_SAMPLE_SECONDS):
                return

    def _add_cpu_tail(self, started: float, finished: float) -> None:
        """Add the CPU time used after the last sample: the cgroup goes with the container, so up to one sampling
        interval at the end is never measured. It is extrapolated at the rate of the last interval, at most the
        job's CPUs (a job burning 2 s of CPU otherwise shows about 1.9). All times are Docker's own (each reading's,
        the container's start and finish), so a slow stats call does not skew the rate."""
        samples = [(started, 0.0), *list(self._cpu_samples)]  # a copy: the sampler may still append
        if len(samples) < 2:
            return
        (t0, c0), (t1, c1) = samples[-2:]
        rate = min(max((c1 - c0) / max(t1 - t0, 1e-3), 0.0), self.config.limits.cpus)
        self.usage.cpu_seconds = round(c1 + rate * max(finished - t1, 0.0), 3)

    def _collect_output(self, container: Any, ships_output: bool) -> None:
        """Copy /job/output out through the Docker API and store it as the output zip.

        An output/ the job left as it was unpacked, empty, is not copied: each copy re-executes dockerd (some 50 ms
        of CPU), a cost a short job would pay for nothing.
        """
        stream = None
        try:
            if ships_output or not output_untouched(self.client, container):
                stream, _stat = container.get_archive(OUTPUT_PATH)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"copying output/ out failed: {exc}") from exc
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as zipped:
            summary = tar_to_zip(stream or empty_tar(), zipped, self.config.limits.max_output_bytes)
            if summary.skipped:
                self.log.note(f"[labqueue] left out of the output (not regular files): {', '.join(summary.skipped)}")
            size = zipped.tell()
            self._retry("storing the output", lambda: self._upload(output_key(self.job_id), zipped, size, "application/zip"))
            self.output_bytes = size

    def _snapshot_log(self) -> None:
        try:
            self._store_log()
        except ObjectStoreError as exc:
            LOGGER.warning("job %s: live log snapshot not stored: %s", self.job_id, exc)

    def _store_log(self) -> None:
        data, marks = self.log.snapshot()
        self.store.put_bytes(log_key(self.job_id), data, "text/plain; charset=utf-8", metadata={METADATA_KEY: encode_marks(marks)})

    def _finish(self, state: JobState, reason: str, exit_code: int | None = None) -> JobEvent:
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
        self._retry("storing the log", self._store_log)
        self._retry("storing the result", lambda: self.store.put_json(result_key(self.job_id), final.__dict__))
        self._retry("reporting the result", lambda: self.report(final))
        return final

    def clean_up(self) -> None:
        """Remove the job's container and volume (an orphan sweep catches them if this consumer dies first)."""
        if self._container is not None:
            self._remove(self._container)
            self._container = None

    def _remove(self, container: Any) -> None:
        self._remove_container(container)
        self._remove_volume()

    def _remove_container(self, container: Any) -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.exception("job %s: removing its container failed; the orphan sweep will retry", self.job_id)

    def _remove_volume(self, name: str | None = None) -> None:
        try:
            self.client.api.remove_volume(name or volume_name(self.job_id, self.attempt), force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.exception("job %s: removing its volume failed; the orphan sweep will retry", self.job_id)
