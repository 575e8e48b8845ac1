"""A job's environment build (its requirements.txt installed into ENV_DIR) run as a step of the job: in a container
under the job's own sandbox, time limit and cancel, its output in the job's log, its failure the job's."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import threading
from collections.abc import Callable, Iterator

import docker.errors
import requests

from consumer.container import JobContainers
from consumer.environments import BuildPlan
from consumer.errors import InfraError, JobError
from consumer.log_follower import JobLog
from consumer.sandbox import BUILD_MOUNT, BUILD_REQUIREMENTS, ENV_DIR, JobLimits, build_volume_name
from consumer.watch import Watch
from storage.archive import JOB_UID
from storage.states import JobState

_BUILD_STOPPED = {
    JobState.TIMED_OUT: "stopped at the wall-clock limit of {limit} s while building the environment",
    JobState.CANCELLED: "cancelled while building the environment",
}


def build_input(requirements: str) -> bytes:
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


class EnvironmentBuild:
    """The environment cache's BuildRunner for one job."""

    def __init__(self, *, containers: JobContainers, log: JobLog, watch: Watch, clock: Callable[[], float], limits: JobLimits) -> None:
        self.containers = containers
        self.log = log
        self.watch = watch
        self.clock = clock
        self.limits = limits

    @contextlib.contextmanager
    def run(self, plan: BuildPlan) -> Iterator[Iterator[bytes]]:
        """Run the build; yields the installed tree (a tar of ENV_DIR) for the environment cache to commit, then
        removes container and volume."""
        volume = build_volume_name(self.containers.job_id, self.containers.attempt)
        container = None
        try:
            self.containers.create_volume(volume)
            container = self.containers.create_build(plan)
            container.put_archive(BUILD_MOUNT, build_input(plan.requirements))
            container.start()
            log_follower = threading.Thread(target=self.log.follow, args=(container,), daemon=True)
            log_follower.start()
            stop_reason = self.watch.wait(container, self.clock())
            log_follower.join(timeout=5)
            if stop_reason is not None:
                stopped, _reason = stop_reason
                raise JobError(stopped, _BUILD_STOPPED[stopped].format(limit=self.limits.time_limit))
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
                self.containers.remove_container(container)
            self.containers.remove_volume(volume)
