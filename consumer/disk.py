"""A job's disk on the Docker host: the one place writable job volumes are made, and the host's free-disk reserve.

Every writable volume a job (or its environment build) gets comes from ``create_bounded_volume``: a filesystem of
its own of the job's ``disk_limit``, made by the labqueue-disk plugin on the Docker host (consumer/disk_plugin.py),
so a job that fills it gets ENOSPC and the host's disk never fills. A Docker host without the plugin makes no
bounded volume: the consumer refuses to start rather than run jobs unbounded.

The reserve is read where the volumes live, through the Docker API (the consumer may run on another machine): the
plugin tells its filesystem's free bytes in each volume's Status, and each consumer keeps one small probe volume to
ask about.
"""

from __future__ import annotations

import logging

import docker
import docker.errors

from consumer.disk_plugin import DRIVER, STATUS_FREE

LOGGER = logging.getLogger(__name__)

GIB = 2**30
PROBE_MIB = 16
LABEL_PROBE = "labqueue.disk-probe"  # not the consumer label: the probe outlives jobs and is no job's leftover


class DiskUnavailable(RuntimeError):
    """The Docker host cannot make size-capped volumes; the consumer must not take jobs."""


def create_bounded_volume(client: docker.DockerClient, name: str, size_mib: int, owner: str, labels: dict[str, str]) -> None:
    """A volume whose writes fail with ENOSPC past ``size_mib``; its root belongs to ``owner`` ("uid:gid")."""
    uid, gid = owner.split(":")
    client.volumes.create(name, driver=DRIVER, driver_opts={"size": f"{size_mib}m", "uid": uid, "gid": gid}, labels=labels)


def probe_name(consumer: str) -> str:
    return f"labqueue-disk-probe-{consumer}"


class DiskReserve:
    """Whether the Docker host keeps ``reserve_bytes`` free; below it the consumer takes no new job."""

    def __init__(self, client: docker.DockerClient, consumer: str, reserve_bytes: int) -> None:
        self.client = client
        self.probe = probe_name(consumer)
        self.reserve_bytes = reserve_bytes
        self.labels = {LABEL_PROBE: consumer}

    def open(self) -> None:
        """Make the probe volume (a killed predecessor's is taken over); DiskUnavailable when the host has no plugin."""
        try:
            create_bounded_volume(self.client, self.probe, PROBE_MIB, "0:0", self.labels)
        except docker.errors.APIError as exc:
            raise DiskUnavailable(
                f"the Docker host cannot make size-capped job volumes ({exc.explanation or exc}); "
                f"run scripts/docker.sh there to start the {DRIVER} volume plugin"
            ) from exc

    def close(self) -> None:
        try:
            self.client.api.remove_volume(self.probe, force=True)
        except docker.errors.APIError as exc:
            LOGGER.warning("probe volume %s not removed: %s", self.probe, exc)

    def free_bytes(self) -> int:
        try:
            status = self.client.api.inspect_volume(self.probe).get("Status") or {}
        except docker.errors.NotFound:  # removed behind our back (a prune): make it again
            self.open()
            status = self.client.api.inspect_volume(self.probe).get("Status") or {}
        return int(status[STATUS_FREE])

    def shortfall(self) -> str:
        """Why no job may start now ("" when the reserve is kept); a Docker host that does not answer counts as short."""
        try:
            free = self.free_bytes()
        except (docker.errors.APIError, DiskUnavailable, KeyError, ValueError, OSError) as exc:
            return f"free disk on the Docker host unknown: {exc}"
        if free < self.reserve_bytes:
            return f"free disk on the Docker host is {free / GIB:.1f} GiB, below the reserve of {self.reserve_bytes / GIB:.1f} GiB"
        return ""

