"""One job's life on a consumer, as a script over its parts: check earlier deliveries, claim, fetch input,
environment, container, collect output and log, report. Each part is a module of its own (see the imports)."""

from __future__ import annotations

import functools
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import docker
import docker.errors
import requests

from consumer.claim import ClaimKeeper
from consumer.cleanup import remove_job_leftovers
from consumer.config import ConsumerConfig
from consumer.container import JobContainers, kill
from consumer.datasets import DatasetCache
from consumer.env_build import EnvironmentBuild
from consumer.environments import EnvironmentCache
from consumer.errors import InfraError, JobError
from consumer.job_files import attach_stdin, send_input
from consumer.log_follower import JobLog
from consumer.logcapture import LogCapture
from consumer.output import OutputTooLarge
from consumer.redelivery import Redelivery
from consumer.results import SPOOL_BYTES, Report, Results
from consumer.retry import Retry
from consumer.sandbox import JobLimits
from consumer.usage import UsageSampler
from consumer.watch import Stopped, Watch
from producer.contract import JobEvent, JobMessage
from storage.archive import ArchiveError, ArchiveLimits, inspect_zip, read_member, zip_to_tar
from storage.objects import ObjectStore
from storage.requirements import MAX_REQUIREMENTS_BYTES
from storage.runtimes import Runtime
from storage.states import JobState

LOGGER = logging.getLogger(__name__)


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
        self.cancelled = cancelled
        self.limits = JobLimits.clamp(message.time_limit, message.memory_limit, message.disk_limit, config.limits)
        self.archive_limits = ArchiveLimits(max_upload_bytes=config.limits.max_input_bytes)
        self.retry = Retry(self.job_id, shutdown)
        self.log = JobLog(store, self.job_id, config.limits.max_log_bytes)
        self.results = Results(job_id=self.job_id, attempt=attempt, config=config, store=store, log=self.log, report=report, retry=self.retry)
        self.redelivery = Redelivery(store=store, job_id=self.job_id, retry=self.retry, report=report, cancelled=cancelled, shutdown=shutdown)
        self.containers = JobContainers(
            client, job_id=self.job_id, attempt=attempt, consumer=config.name, job=self.limits, limits=config.limits
        )
        self.watch = Watch(job_id=self.job_id, time_limit=self.limits.time_limit, store=store, log=self.log, cancelled=cancelled, shutdown=shutdown)
        self.build = EnvironmentBuild(containers=self.containers, log=self.log, watch=self.watch, clock=self._clock, limits=self.limits)
        self.sampler = UsageSampler(self.job_id, config.limits.cpus, self.results.usage)
        self._container: Any = None
        self._clock_started: float | None = None  # the time limit runs from the first of the build and the run

    def run(self) -> JobEvent:
        """Run the job and return its final event, already stored as the job's result and reported."""
        cancel = functools.partial(self.results.finish, JobState.CANCELLED, "cancelled before it started")
        settled = self.redelivery.final_without_running(cancel)
        if settled is not None:
            return settled
        keeper = ClaimKeeper(self.store, self.job_id, self.config.name, self.attempt)
        self.retry("claiming the job", keeper.start)
        try:
            self.results.progress(JobState.PREPARING, "fetching input and preparing the environment")
            try:
                return self._run_in_container()
            except JobError as exc:
                return self.results.finish(exc.state, exc.reason, exc.exit_code)
        finally:
            keeper.release()

    def _run_in_container(self) -> JobEvent:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as zipped:
            self.retry("fetching the input", lambda: self._download(self.message.input_key, zipped))
            try:
                info = inspect_zip(zipped, "input.zip", self.runtime.name, self.archive_limits)
                requirements = read_member(zipped, info, "requirements.txt", MAX_REQUIREMENTS_BYTES, self.archive_limits)
            except ArchiveError as exc:
                raise JobError(JobState.FAILED, f"input rejected: {exc}") from exc
            image, self.results.environment = self.environments.environment_for(self.runtime, requirements, self.log.capture, self.build.run)
            datasets = self.datasets.volumes_for(self.message.datasets, self.log.capture)
            if self.cancelled.is_set():
                raise JobError(JobState.CANCELLED, "cancelled before it started")
            if self.attempt > 1:
                remove_job_leftovers(self.client, self.job_id)  # an earlier attempt here whose consumer died
            container = self.containers.create_run(image, self.runtime, datasets)
            try:
                return self.results.finish(*self._execute(container, zip_to_tar(zipped, info, self.archive_limits), info.ships_output))
            except JobError as exc:
                return self.results.finish(exc.state, exc.reason, exc.exit_code)
            finally:
                # Removed by clean_up(), after the message is settled: the researcher and the next job need not wait.
                self._container = container

    def _download(self, key: str, target: IO[bytes]) -> None:
        target.seek(0)
        target.truncate()
        self.store.download_to(key, target)

    def _clock(self) -> float:
        """When the job's time limit started to run: at its environment build, if it has one, else at its start."""
        if self._clock_started is None:
            self._clock_started = time.monotonic()
        return self._clock_started

    def _execute(self, container: Any, project_tar: Iterator[bytes], ships_output: bool) -> tuple[JobState, str, int | None]:
        self.results.progress(JobState.RUNNING, "running")
        started = time.monotonic()
        try:
            stdin = attach_stdin(self.client, container)
            container.start()
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"starting the container failed: {exc}") from exc
        LOGGER.info("job %s: container started (attempt %d)", self.job_id, self.attempt)
        self._send_project(container, stdin, project_tar)
        before_run = self.log.capture.checkpoint()
        stop_reason, state = self._wait_and_measure(container, started, before_run)
        exit_code = state.get("ExitCode")
        if stop_reason is not None and stop_reason[0] is JobState.CANCELLED:
            return stop_reason[0], stop_reason[1], None
        try:
            self.results.collect_output(self.client, container, ships_output)  # also after a timeout or OOM kill: partial results help
        except OutputTooLarge as exc:
            return JobState.OUTPUT_TOO_LARGE, str(exc), exit_code
        if stop_reason is not None:
            return stop_reason[0], stop_reason[1], None
        if state.get("OOMKilled"):
            return JobState.OUT_OF_MEMORY, f"killed at the memory limit of {self.limits.memory_mib} MiB", exit_code
        if exit_code == 0:
            return JobState.SUCCEEDED, "exited with code 0", 0
        return JobState.FAILED, f"exited with code {exit_code}", exit_code

    def _wait_and_measure(self, container: Any, started: float, before_run: LogCapture) -> tuple[Stopped | None, dict[str, Any]]:
        """Wait for the run to end with its log followed and its usage sampled; returns why it was stopped, if it
        was, and the exited container's State."""
        exited = threading.Event()
        log_follower = threading.Thread(target=self.log.follow, args=(container,), daemon=True)
        sampler = threading.Thread(target=self.sampler.sample, args=(container, exited), daemon=True)
        log_follower.start()
        sampler.start()
        try:
            stop_reason = self.watch.wait(container, self._clock())
        finally:
            exited.set()
        self.results.usage.wall_seconds = round(time.monotonic() - started, 3)
        log_follower.join(timeout=0.2)
        if self.log.needs_reread(before_run, log_follower.is_alive()):
            self.log.reread(container, before_run)
        container.reload()
        state: dict[str, Any] = container.attrs["State"]
        # A stats call racing the exit can block for most of a second: the sampler is not waited for, the CPU time
        # after its last sample is extrapolated instead.
        self.sampler.add_cpu_tail(state)
        return stop_reason, state

    def _send_project(self, container: Any, stdin: socket.socket, project_tar: Iterator[bytes]) -> None:
        try:
            send_input(stdin, project_tar)
        except ArchiveError as exc:
            kill(container)
            raise JobError(JobState.FAILED, f"input rejected: {exc}") from exc
        except OSError as exc:  # Docker went away, or tar in the sandbox stopped reading (e.g. its volume is full)
            kill(container)
            raise InfraError(f"copying the project into the container failed: {exc}") from exc

    def clean_up(self) -> None:
        """Remove the job's container and volume (an orphan sweep catches them if this consumer dies first)."""
        if self._container is not None:
            self.containers.remove(self._container)
            self._container = None
