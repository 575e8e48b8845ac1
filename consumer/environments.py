"""Environment images: a runtime's image plus a job's requirements.txt, built once per distinct set and reused."""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import docker
import docker.errors

from consumer.config import BuildSettings
from consumer.errors import InfraError, JobError
from consumer.logcapture import LogCapture
from consumer.runtimes import Runtime
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

ENV_REPOSITORY = "labqueue/env"
ENV_LABEL = "labqueue.environment"
TOUCH_INTERVAL = timedelta(minutes=10)


def normalise_requirements(text: str) -> str:
    """Order and comments do not change what pip installs, so they must not change the cache key."""
    lines = {line.split("#", 1)[0].strip() for line in text.splitlines()}
    return "\n".join(sorted(line for line in lines if line)) + "\n"


def environment_tag(runtime: Runtime, base_image_id: str, requirements: str, index_url: str | None) -> str:
    digest = hashlib.sha256(f"{runtime.name}\n{base_image_id}\n{index_url or ''}\n{requirements}".encode()).hexdigest()[:24]
    return f"{ENV_REPOSITORY}:{runtime.name}-{digest}"


def _build_context(base_image: str, install_command: str, requirements: str, index_url: str | None) -> io.BytesIO:
    dockerfile = (
        f"FROM {base_image}\n"
        "USER root\n"
        "COPY requirements.txt /tmp/requirements.txt\n"
        + ("ARG PIP_INDEX_URL\n" if index_url else "")
        + f"RUN {install_command} && rm /tmp/requirements.txt\n"
        "USER 1000:1000\n"
    )
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile), ("requirements.txt", requirements)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    return context


class EnvironmentCache:
    """Builds environment images on demand; one build per tag at a time, least recently used pruned past a budget."""

    def __init__(self, client: docker.DockerClient, budget_bytes: int, build: BuildSettings) -> None:
        self.client = client
        self.budget_bytes = budget_bytes
        self.build = build
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def image_for(self, runtime: Runtime, requirements: str | None, log: LogCapture) -> str:
        """The image to run the job in; builds it (its log written to ``log``) when missing."""
        return self.environment_for(runtime, requirements, log)[0]

    def environment_for(self, runtime: Runtime, requirements: str | None, log: LogCapture) -> tuple[str, str]:
        """The image to run the job in and how it came about, for the cache's metrics: base, cached or built."""
        if not requirements or not normalise_requirements(requirements).strip():
            return runtime.image, "base"
        if runtime.install_command is None:
            raise JobError(JobState.FAILED, f"runtime {runtime.name} does not install requirements.txt")
        try:
            base_id = self.client.images.get(runtime.image).id
        except docker.errors.ImageNotFound as exc:
            raise InfraError(f"worker image {runtime.image} is missing on this Docker host") from exc
        normalised = normalise_requirements(requirements)
        tag = environment_tag(runtime, base_id, normalised, self.build.pip_index_url)
        with self._lock_for(tag):
            if self._touch(tag):
                log.write(f"[labqueue] environment {tag} found in cache\n".encode())
                return tag, "cached"
            self._build(runtime, normalised, tag, log)
        self.prune(keep=tag)
        return tag, "built"

    def _lock_for(self, tag: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[tag]

    def _touch(self, tag: str) -> bool:
        """Mark the image as used (re-tagging updates its LastTagTime); False when it does not exist.

        A tag used within TOUCH_INTERVAL is left as it is: each re-tag is a write to dockerd's tag store, a
        cost on every job start, and the pruning's order does not need a finer clock than that."""
        try:
            image = self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        last_tagged = datetime.fromisoformat(image.attrs.get("Metadata", {}).get("LastTagTime") or "0001-01-01T00:00:00Z")
        if datetime.now(UTC) - last_tagged > TOUCH_INTERVAL:
            repository, name = tag.split(":", 1)
            image.tag(repository, name)
        return True

    def _build(self, runtime: Runtime, requirements: str, tag: str, log: LogCapture) -> None:
        log.write(f"[labqueue] building environment {tag} from requirements.txt\n".encode())
        context = _build_context(runtime.image, runtime.install_command or "", requirements, self.build.pip_index_url)
        try:
            build_args = {"PIP_INDEX_URL": self.build.pip_index_url} if self.build.pip_index_url else {}
            for chunk in self.client.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                decode=True,
                labels={ENV_LABEL: runtime.name},
                buildargs=build_args,
                network_mode=self.build.network,
            ):
                if "stream" in chunk:
                    log.write(chunk["stream"].encode())
                if "error" in chunk:
                    log.write(f"{chunk['error']}\n".encode())
                    raise JobError(JobState.FAILED, "installing requirements.txt failed (see the log)")
        except docker.errors.APIError as exc:
            raise InfraError(f"environment build failed in Docker: {exc}") from exc
        log.write(b"[labqueue] environment ready\n")

    def prune(self, keep: str) -> None:
        """Remove least recently used environment images while their total size exceeds the budget."""
        images = self.client.images.list(filters={"label": ENV_LABEL})
        images.sort(key=lambda image: image.attrs.get("Metadata", {}).get("LastTagTime", ""), reverse=True)
        total = 0
        for image in images:
            total += image.attrs.get("Size", 0)
            if total > self.budget_bytes and keep not in image.tags:
                try:
                    self.client.images.remove(image.id, noprune=False)
                    LOGGER.info("pruned environment image %s", image.tags)
                except docker.errors.APIError:
                    LOGGER.info("environment image %s in use; kept", image.tags)
