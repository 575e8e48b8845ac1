"""Environment images: a runtime's image plus a job's requirements, built once per distinct set and reused.

The build is a step of the job, run by the job (consumer/env_build.py) in a container under the job's own sandbox, on a network
whose only way out is the proxy to the package index (consumer/egress.py). It installs into ENV_DIR, on a volume of
the job's; the cache then makes the image without running anything: it creates (never starts) a container of the
runtime's image, copies the installed tree in and commits it. A job's code, and its packages' build code when source
builds are allowed, so never runs as root, with capabilities, or with a way to the host or the LAN.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import docker
import docker.errors
import requests

from consumer.config import BuildSettings
from consumer.egress import EgressKeeper, allowed_endpoints
from consumer.errors import InfraError, JobError
from consumer.logcapture import LogCapture
from consumer.sandbox import BUILD_MOUNT, BUILD_REQUIREMENTS, ENV_DIR
from storage.requirements import RequirementsError, canonical_requirements, parse_requirements
from storage.runtimes import Runtime
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

ENV_REPOSITORY = "labqueue/env"
ENV_LABEL = "labqueue.environment"
TOUCH_INTERVAL = timedelta(minutes=10)
WHEELS_ONLY_HINT = "only wheels are installed here, so a package without a wheel for this Python cannot be; see the log"
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BuildPlan:
    """What the job runs in its build sandbox: the command installs ``requirements`` into ENV_DIR."""

    image: str
    command: tuple[str, ...]
    network: str
    environment: dict[str, str]
    requirements: str
    failure_hint: str  # what a failed build's reason adds, e.g. that only wheels are installed


# Runs a plan under the job's sandbox and yields the installed tree (a tar of ENV_DIR) while its container exists.
BuildRunner = Callable[[BuildPlan], AbstractContextManager[Iterator[bytes]]]


def environment_tag(runtime: Runtime, base_image_id: str, requirements: str, build: BuildSettings) -> str:
    """The cache key: what decides the installed tree (a source build may install what the wheels-only one cannot)."""
    key = f"{runtime.name}\n{base_image_id}\n{build.pip_index_url or ''}\nsource={build.allow_source}\n{requirements}"
    return f"{ENV_REPOSITORY}:{runtime.name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def pip_environment(build: BuildSettings, proxy_url: str) -> dict[str, str]:
    """pip's settings for a build: the index, wheels only unless the admin allows source builds, the proxy."""
    environment = {
        "HOME": "/tmp",
        "LABQUEUE_ENV": ENV_DIR,
        "LABQUEUE_REQUIREMENTS": BUILD_REQUIREMENTS,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_PROGRESS_BAR": "off",
        **{name: proxy_url for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")},
    }
    if build.pip_index_url:
        environment["PIP_INDEX_URL"] = build.pip_index_url
        index = urlsplit(build.pip_index_url)
        if index.scheme == "http":  # the admin chose a plain-HTTP mirror; pip ignores one unless told to trust it
            environment["PIP_TRUSTED_HOST"] = index.netloc.rpartition("@")[2]
    if not build.allow_source:
        environment["PIP_ONLY_BINARY"] = ":all:"
    return environment


def _folder_tar(path: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(path.strip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
    return buffer.getvalue()


class EnvironmentCache:
    """Environment images on demand; one build per tag at a time, least recently used pruned past a budget."""

    def __init__(self, client: docker.DockerClient, budget_bytes: int, build: BuildSettings) -> None:
        self.client = client
        self.budget_bytes = budget_bytes
        self.build = build
        self.egress = EgressKeeper(client, allowed_endpoints(build), build.proxy_network, build.proxy_image)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def environment_for(
        self, runtime: Runtime, requirements: bytes | None, log: LogCapture, run_build: BuildRunner
    ) -> tuple[str, str]:
        """The image to run the job in and how it came about, for the cache's metrics: base, cached or built.

        The requirements are checked again here, whatever the upload check said: a zip stored before that check
        existed must not reach pip with an option or a URL in it."""
        if not requirements:
            return runtime.image, "base"
        try:
            parsed = parse_requirements(requirements)
        except RequirementsError as exc:
            raise JobError(JobState.FAILED, f"input rejected: {exc}") from exc
        if not parsed:
            return runtime.image, "base"
        if runtime.install_command is None:
            raise JobError(JobState.FAILED, f"runtime {runtime.name} does not install requirements.txt")
        try:
            base_id = self.client.images.get(runtime.image).id
        except docker.errors.ImageNotFound as exc:
            raise InfraError(f"worker image {runtime.image} is missing on this Docker host") from exc
        canonical = canonical_requirements(parsed)
        tag = environment_tag(runtime, base_id, canonical, self.build)
        with self._lock_for(tag):
            if self._touch(tag):
                log.note(f"[labqueue] environment {tag} found in cache")
                return tag, "cached"
            how = "wheels and source builds" if self.build.allow_source else "wheels only"
            log.note(f"[labqueue] building environment {tag} from requirements.txt ({how})")
            egress = self.egress.ensure()
            plan = BuildPlan(
                image=runtime.image,
                command=("sh", "-c", runtime.install_command),
                network=egress.network,
                environment=pip_environment(self.build, egress.proxy_url),
                requirements=canonical,
                failure_hint="see the log" if self.build.allow_source else WHEELS_ONLY_HINT,
            )
            with log.section("build"), run_build(plan) as tree:  # pip's output, marked out of band as the build's
                self.commit(runtime, tag, tree)
            log.note("[labqueue] environment ready")
        self.prune(keep=tag)
        return tag, "built"

    def commit(self, runtime: Runtime, tag: str, tree: Iterator[bytes]) -> None:
        """Make the environment image from the runtime's image and the installed tree, running nothing: a container
        is created, never started, the tree copied in, and the container committed with ENV_DIR's bin/ first on
        PATH. The container carries no labels, since a commit keeps them in the image."""
        repository, name = tag.split(":", 1)
        try:
            image = self.client.images.get(runtime.image)
            env = image.attrs.get("Config", {}).get("Env") or []
            path = next((item.split("=", 1)[1] for item in env if item.startswith("PATH=")), _DEFAULT_PATH)
            container = self.client.containers.create(runtime.image)
        except docker.errors.APIError as exc:
            raise InfraError(f"preparing the environment image failed: {exc}") from exc
        try:
            container.put_archive("/", _folder_tar(BUILD_MOUNT))  # put_archive needs the folder to exist
            container.put_archive(BUILD_MOUNT, tree)
            container.commit(
                repository=repository,
                tag=name,
                changes=[f"ENV PATH={ENV_DIR}/bin:{path}", f"ENV VIRTUAL_ENV={ENV_DIR}", f"LABEL {ENV_LABEL}={runtime.name}"],
            )
        except (docker.errors.APIError, requests.RequestException) as exc:
            raise InfraError(f"committing the environment image failed: {exc}") from exc
        finally:
            try:
                container.remove(force=True)
            except (docker.errors.APIError, requests.RequestException):
                LOGGER.warning("removing the environment image's container %s failed", container.id[:12], exc_info=True)

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
