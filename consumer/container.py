"""A job's containers and volumes on the Docker engine: made, stopped and removed here, each call's failure told
apart as the job's fault or the engine's (InfraError: the job goes back to the queue)."""

from __future__ import annotations

import logging
from typing import Any

import docker
import docker.errors
import requests
import urllib3.exceptions

from consumer.config import SandboxLimits
from consumer.disk import create_bounded_volume
from consumer.environments import BuildPlan
from consumer.errors import InfraError
from consumer.sandbox import JOB_USER, JobLimits, build_container_spec, container_spec, labels, volume_name
from storage.runtimes import Runtime

LOGGER = logging.getLogger(__name__)


def exited_within(container: Any, seconds: float) -> bool:
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


def kill(container: Any) -> None:
    """Stop the container now and wait until it is gone; one that exited already is no error."""
    try:
        container.kill()
        container.wait(timeout=30)
    except docker.errors.APIError as exc:
        if "is not running" not in str(exc):
            raise InfraError(f"killing the container failed: {exc}") from exc
    except requests.RequestException as exc:
        raise InfraError(f"killing the container failed, the Docker daemon is unreachable: {exc}") from exc


class JobContainers:
    """Creates and removes one attempt's containers and volumes (its run's and its environment build's)."""

    def __init__(
        self, client: docker.DockerClient, *, job_id: str, attempt: int, consumer: str, job: JobLimits, limits: SandboxLimits
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.attempt = attempt
        self.consumer = consumer
        self.job = job
        self.limits = limits

    def create_volume(self, name: str) -> None:
        """Every volume the job writes to, its /job and its environment build's, is made here, bounded alike."""
        create_bounded_volume(self.client, name, self.job.disk_mib, JOB_USER, labels(self.job_id, self.consumer))

    def create_build(self, plan: BuildPlan) -> Any:
        """The container of the job's environment build (its volume made first)."""
        return self.client.containers.create(
            **build_container_spec(
                job_id=self.job_id,
                attempt=self.attempt,
                consumer=self.consumer,
                image=plan.image,
                command=plan.command,
                environment=plan.environment,
                network=plan.network,
                job=self.job,
                limits=self.limits,
            )
        )

    def create_run(self, image: str, runtime: Runtime, datasets: dict[str, str]) -> Any:
        """The job's container, with its /job volume."""
        try:
            self.create_volume(volume_name(self.job_id, self.attempt))
            spec = container_spec(
                job_id=self.job_id,
                attempt=self.attempt,
                consumer=self.consumer,
                image=image,
                command=runtime.command,
                job=self.job,
                limits=self.limits,
                datasets=datasets,
            )
            return self.client.containers.create(**spec)
        except docker.errors.ImageNotFound as exc:
            self.remove_volume()
            raise InfraError(f"image {image} is missing on this Docker host: {exc}") from exc
        except docker.errors.APIError as exc:
            self.remove_volume()
            raise InfraError(f"creating the container failed: {exc}") from exc

    def remove(self, container: Any) -> None:
        """Remove the job's container and its /job volume (an orphan sweep catches them if this consumer dies first)."""
        self.remove_container(container)
        self.remove_volume()

    def remove_container(self, container: Any) -> None:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.exception("job %s: removing its container failed; the orphan sweep will retry", self.job_id)

    def remove_volume(self, name: str | None = None) -> None:
        try:
            self.client.api.remove_volume(name or volume_name(self.job_id, self.attempt), force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException):
            LOGGER.exception("job %s: removing its volume failed; the orphan sweep will retry", self.job_id)
