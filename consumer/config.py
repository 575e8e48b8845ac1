"""Consumer settings: the runtime it serves, its slots and the sandbox's defaults and maximums."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from storage.config import MIB, JobLimitSettings
from storage.settings import Settings, Words, setting

GIB = 2**30


class SandboxLimits(JobLimitSettings):
    """What every job gets; a job may ask for less time or memory, never more than the maximum (JobLimitSettings)."""

    cpus: float = setting(1.0, "CPUs per job", env="LABQUEUE_JOB_CPUS", gt=0, le=1024)
    pids: int = setting(256, "process limit per job", env="LABQUEUE_JOB_PIDS", ge=16, le=65536)
    tmp_mib: int = setting(512, "size of the job's `/tmp`", env="LABQUEUE_JOB_TMP_MIB", unit="MiB", ge=1)
    max_output_mib: int = setting(1024, "largest `output/`", unit="MiB", ge=1)
    max_log_mib: int = setting(10, "log kept (head and tail; the cut is marked out of band)", unit="MiB", ge=1)
    container_runtime: Literal["runc", "runsc"] = setting("runc", "`runsc` runs jobs under gVisor")

    @property
    def max_output_bytes(self) -> int:
        return self.max_output_mib * MIB

    @property
    def max_log_bytes(self) -> int:
        return self.max_log_mib * MIB

    @property
    def max_input_bytes(self) -> int:
        """The web's upload limit: the consumer checks the stored zip again by the same rules."""
        return self.max_upload_bytes


class BuildSettings(Settings):
    """How environment builds reach a package index (consumer/egress.py): the index (a lab mirror; pip's default when
    unset), further hosts its files come from, the network the build proxy reaches them on, and whether packages
    may be built from source (their build code then runs, still in the build's sandbox)."""

    pip_index_url: str | None = setting(
        None,
        "package index for `requirements.txt` builds (a lab mirror); the build proxy lets through its host:port only",
        shown="unset (pip's default index)",
    )
    allow_source: bool = setting(
        False,
        "packages without a wheel are built from source (their build code runs, still in the build sandbox); else wheels only",
        env="LABQUEUE_BUILD_ALLOW_SOURCE",
    )
    allow_hosts: Words = setting(
        (), "further `host[:port]` the build proxy allows (e.g. the host a mirror serves its files from)", env="LABQUEUE_BUILD_ALLOW_HOSTS"
    )
    proxy_network: str = setting(
        "labqueue-egress",
        "the ordinary Docker network the build proxy reaches the index on (made when missing)",
        env="LABQUEUE_BUILD_PROXY_NETWORK",
    )
    proxy_image: str = setting(
        "labqueue/build-proxy:latest", "the build proxy's image (`scripts/images.sh build-proxy`)", env="LABQUEUE_BUILD_PROXY_IMAGE"
    )


class HostSettings(Settings):
    """What a consumer keeps on its Docker host, and the name it is known by there."""

    consumer_name: str | None = setting(
        None, "stable name; a restarted consumer removes what its predecessor left", shown="`<hostname>-<runtime>`"
    )
    env_image_budget_gib: float = setting(
        20.0, "environment images beyond this are pruned, least recently used first", unit="GiB", ge=0
    )
    dataset_cache_gib: float = setting(
        50.0, "dataset volumes on a consumer's Docker host beyond this are removed, least recently used first", unit="GiB", ge=0
    )
    disk_reserve_gib: float = setting(
        10.0, "a consumer whose Docker host has less free disk (where job volumes live) takes no new job", unit="GiB", ge=0
    )


@dataclass(frozen=True)
class ConsumerConfig:
    runtime: str
    slots: int
    name: str
    limits: SandboxLimits
    build: BuildSettings = field(default_factory=BuildSettings)
    host: HostSettings = field(default_factory=HostSettings)
    heartbeat_interval: float = 10.0

    @property
    def env_image_budget_bytes(self) -> int:
        return int(self.host.env_image_budget_gib * GIB)

    @property
    def dataset_cache_bytes(self) -> int:
        return int(self.host.dataset_cache_gib * GIB)

    @property
    def disk_reserve_bytes(self) -> int:
        """Below this much free disk on the Docker host, no new job starts."""
        return int(self.host.disk_reserve_gib * GIB)

    @classmethod
    def from_env(cls, runtime: str, slots: int, env: Mapping[str, str] = os.environ) -> ConsumerConfig:
        host = HostSettings.from_env(env)
        return cls(
            runtime=runtime,
            slots=slots,
            # Stable across restarts, so a restarted consumer recognises and removes what it left behind.
            name=host.consumer_name or f"{socket.gethostname()}-{runtime}",
            limits=SandboxLimits.from_env(env),
            build=BuildSettings.from_env(env),
            host=host,
        )
