"""Datasets for jobs: one Docker volume per dataset version on this Docker host, filled once from the object store,
mounted read-only into every job that reads the version, least recently used ones removed beyond a disk budget.

The cache's state lives in Docker, so every consumer using this Docker host shares it:

- the volume ``labqueue-dataset-<name>-v<N>-<digest>`` holds the files (the digest of the version's manifest tells
  apart same-named versions of other installations on the host);
- a helper container named ``<volume>-fill`` mounts it while put_archive streams the files in; Docker allows one
  container per name, so that name is the host-wide lock on filling;
- once the copy is complete the helper is renamed to ``<volume>``: that holder, never started, is the "complete"
  mark (a copy cut short by a crash has none and is redone) and keeps ``docker volume prune`` off the cache;
- the holder's own file ``/.labqueue-last-used`` (outside the volume, so jobs never see it) is rewritten at each
  use; its modification time orders eviction.
"""

from __future__ import annotations

import io
import logging
import tarfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import docker
import docker.errors
import requests

from consumer.dataset_tar import DatasetDamaged, dataset_tar
from consumer.errors import InfraError, JobError
from consumer.logcapture import LogCapture
from storage.dataset_layout import LayoutError, Manifest, load_manifest, parse_ref
from storage.objects import ObjectStore, ObjectStoreError
from storage.states import JobState

LOGGER = logging.getLogger(__name__)

LABEL_VOLUME = "labqueue.dataset.volume"
LABEL_DATASET = "labqueue.dataset"
LABEL_BYTES = "labqueue.dataset.bytes"
LABEL_FILLER = "labqueue.dataset.filler"
FILL_MOUNT = "/dataset"
LAST_USED = ".labqueue-last-used"
FILL_POLL_SECONDS = 1.0
FILL_STALE_SECONDS = 3 * 3600.0  # a fill container older than this was left by a consumer that died
EVICTION_GRACE_SECONDS = 300.0  # just used: a job of some consumer is about to mount it


def volume_name(manifest: Manifest, manifest_sha256: str) -> str:
    return f"labqueue-dataset-{manifest.name}-v{manifest.version}-{manifest_sha256[:12]}"


def fill_name(volume: str) -> str:
    return f"{volume}-fill"


def _docker_time(text: str) -> float:
    """Docker's RFC 3339 times (nanoseconds, Z) as a Unix time."""
    return datetime.fromisoformat(text).timestamp()


class DatasetCache:
    """Ensures dataset volumes exist and are complete; one fill per volume at a time, across slots and consumers."""

    def __init__(
        self,
        client: docker.DockerClient,
        store: ObjectStore,
        budget_bytes: int,
        helper_image: str,
        consumer: str,
        eviction_grace: float = EVICTION_GRACE_SECONDS,
    ) -> None:
        self.client = client
        self.store = store
        self.budget_bytes = budget_bytes
        self.eviction_grace = eviction_grace
        self.helper_image = helper_image  # any image on the host does: the helper is never started
        self.consumer = consumer
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()

    def volumes_for(self, refs: list[str], log: LogCapture) -> dict[str, str]:
        """Dataset name → volume for a job's resolved ``name@version`` references, each one ready to mount."""
        mounts: dict[str, str] = {}
        for text in refs:
            manifest, digest = self._manifest(text)
            volume = volume_name(manifest, digest)
            started = time.monotonic()
            try:
                copied = self.ensure(manifest, volume)
            except (docker.errors.APIError, requests.RequestException) as exc:
                raise InfraError(f"preparing the volume of dataset {text} failed: {exc}") from exc
            seconds = time.monotonic() - started
            how = f"copied in {seconds:.1f} s" if copied else "from the cache"
            log.note(f"[labqueue] dataset {manifest.ref} ({len(manifest.files)} files, {manifest.total_bytes} bytes) {how}, "
                     f"mounted read-only at /data/{manifest.name}/")
            mounts[manifest.name] = volume
        return mounts

    def _manifest(self, text: str) -> tuple[Manifest, str]:
        try:
            ref = parse_ref(text)
            return load_manifest(self.store, ref)
        except LayoutError as exc:
            raise JobError(JobState.FAILED, f"dataset {text}: {exc}") from exc
        except ObjectStoreError as exc:
            raise InfraError(str(exc)) from exc

    def _lock_for(self, volume: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[volume]

    def ensure(self, manifest: Manifest, volume: str) -> bool:
        """Make ``volume`` a complete copy of the version; True when it was copied now, False when it was cached."""
        with self._lock_for(volume):
            waited_since = time.monotonic()
            while True:
                holder = self._container(volume)
                if holder is not None and self._volume_exists(volume):
                    self._touch(holder)
                    return False
                if holder is not None:  # the volume was removed behind the holder's back
                    holder.remove(force=True)
                filler = self._container(fill_name(volume))
                if filler is not None and self._filled_elsewhere(filler, waited_since):
                    time.sleep(FILL_POLL_SECONDS)
                    continue
                if filler is not None:
                    LOGGER.warning("removing %s, left half-done by %s", filler.name, filler.labels.get(LABEL_FILLER))
                    filler.remove(force=True)
                if self._fill(manifest, volume):
                    self.prune(keep=volume)
                    return True
                time.sleep(FILL_POLL_SECONDS)  # another consumer took the fill lock first; wait for its result

    def _filled_elsewhere(self, filler: Any, waited_since: float) -> bool:
        """Another consumer is filling the volume now (not a leftover of this one, nor abandoned)."""
        if filler.labels.get(LABEL_FILLER) == self.consumer:
            return False  # this consumer holds the volume's lock, so it is a leftover of a crash
        created = _docker_time(filler.attrs["Created"])
        return time.time() - created < FILL_STALE_SECONDS and time.monotonic() - waited_since < FILL_STALE_SECONDS

    def _fill(self, manifest: Manifest, volume: str) -> bool:
        """Copy the version into a fresh volume under the fill lock; False when another consumer holds the lock."""
        labels = {LABEL_VOLUME: volume, LABEL_DATASET: str(manifest.ref), LABEL_BYTES: str(manifest.total_bytes)}
        try:
            self.client.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # in use: another consumer's fill container mounts it
                return False
            raise
        self.client.volumes.create(volume, labels=labels)
        try:
            helper = self.client.containers.create(
                image=self.helper_image,
                command=["true"],
                name=fill_name(volume),
                volumes={volume: {"bind": FILL_MOUNT, "mode": "rw"}},
                labels={**labels, LABEL_FILLER: self.consumer},
                network_disabled=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return False
            raise
        started = time.monotonic()
        try:
            helper.put_archive(FILL_MOUNT, dataset_tar(self.store, manifest))
            helper.rename(volume)
        except (DatasetDamaged, ObjectStoreError, docker.errors.APIError, requests.RequestException) as exc:
            self._discard(helper, volume)
            if isinstance(exc, (DatasetDamaged, ObjectStoreError)):
                raise InfraError(f"copying dataset {manifest.ref} failed: {exc}") from exc
            raise
        self._touch(helper)
        LOGGER.info("dataset %s: copied into volume %s (%d bytes) in %.1f s", manifest.ref, volume, manifest.total_bytes,
                    time.monotonic() - started)
        return True

    def _discard(self, helper: Any, volume: str) -> None:
        try:
            helper.remove(force=True)
            self.client.volumes.get(volume).remove(force=True)
        except docker.errors.APIError:
            LOGGER.exception("could not remove the half-filled volume %s; the next job needing it redoes it", volume)

    def _container(self, name: str) -> Any | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _volume_exists(self, volume: str) -> bool:
        try:
            self.client.volumes.get(volume)
        except docker.errors.NotFound:
            return False
        return True

    def _touch(self, holder: Any) -> None:
        """Rewrite the holder's last-use file (an API call on a stopped container; nothing starts)."""
        member = tarfile.TarInfo(LAST_USED)
        member.mtime = int(time.time())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.addfile(member)
        holder.put_archive("/", buffer.getvalue())

    def _last_used(self, holder: Any) -> float:
        try:
            _stream, stat = holder.get_archive("/" + LAST_USED)
        except docker.errors.NotFound:
            return 0.0
        return _docker_time(stat["mtime"])

    def prune(self, keep: str) -> None:
        """Remove the least recently used complete volumes while the cache is over its budget.

        Never ``keep``, a volume used in the last few minutes, or one that a job container still mounts.
        """
        cached = []
        for holder in self.client.containers.list(all=True, filters={"label": LABEL_VOLUME}):
            volume = holder.labels.get(LABEL_VOLUME)
            if holder.name == volume:  # not a fill in progress
                cached.append((self._last_used(holder), int(holder.labels.get(LABEL_BYTES, "0")), volume, holder))
        cached.sort(key=lambda item: item[0], reverse=True)
        total, now = 0, time.time()
        for last_used, size, volume, holder in cached:
            total += size
            if total <= self.budget_bytes or volume == keep or now - last_used < self.eviction_grace:
                continue
            users = self.client.containers.list(all=True, filters={"volume": volume})
            if any(user.name != volume for user in users):
                continue
            holder.remove(force=True)
            try:
                self.client.volumes.get(volume).remove(force=True)
            except docker.errors.APIError:
                LOGGER.info("dataset volume %s came into use while being evicted; kept", volume)
                continue
            total -= size
            LOGGER.info("evicted dataset volume %s (%d bytes)", volume, size)
