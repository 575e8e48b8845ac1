"""Consumer settings: the runtime it serves, its slots and the sandbox's defaults and maximums."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

MIB = 2**20


@dataclass(frozen=True)
class SandboxLimits:
    """What every job gets; a job may ask for less time or memory, never more than the maximum."""

    max_time: int = 3600
    max_memory_mib: int = 2048
    default_disk_mib: int = 4096  # for a job message sent before jobs carried a disk_limit
    max_disk_mib: int = 16384
    cpus: float = 1.0
    pids: int = 256
    tmp_mib: int = 512
    max_output_bytes: int = 1024 * MIB
    max_log_bytes: int = 10 * MIB
    container_runtime: str = "runc"
    max_input_bytes: int = 512 * MIB

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SandboxLimits:
        return cls(
            max_time=int(env.get("LABQUEUE_MAX_TIME_LIMIT", cls.max_time)),
            max_memory_mib=int(env.get("LABQUEUE_MAX_MEMORY_MIB", cls.max_memory_mib)),
            default_disk_mib=int(env.get("LABQUEUE_DEFAULT_DISK_MIB", cls.default_disk_mib)),
            max_disk_mib=int(env.get("LABQUEUE_MAX_DISK_MIB", cls.max_disk_mib)),
            cpus=float(env.get("LABQUEUE_JOB_CPUS", cls.cpus)),
            pids=int(env.get("LABQUEUE_JOB_PIDS", cls.pids)),
            tmp_mib=int(env.get("LABQUEUE_JOB_TMP_MIB", cls.tmp_mib)),
            max_output_bytes=int(env.get("LABQUEUE_MAX_OUTPUT_MIB", cls.max_output_bytes // MIB)) * MIB,
            max_log_bytes=int(env.get("LABQUEUE_MAX_LOG_MIB", cls.max_log_bytes // MIB)) * MIB,
            container_runtime=env.get("LABQUEUE_CONTAINER_RUNTIME", cls.container_runtime),
            # The web's upload limit: the consumer checks the stored zip again by the same rules.
            max_input_bytes=int(env.get("LABQUEUE_MAX_UPLOAD_MIB", cls.max_input_bytes // MIB)) * MIB,
        )


@dataclass(frozen=True)
class BuildSettings:
    """How environment builds reach a package index (consumer/egress.py): the index (a lab mirror; pip's default when
    unset), further hosts its files come from, the network the build proxy reaches them on, and whether packages
    may be built from source (their build code then runs, still in the build's sandbox)."""

    pip_index_url: str | None = None
    allow_source: bool = False
    allow_hosts: tuple[str, ...] = ()
    proxy_network: str = "labqueue-egress"
    proxy_image: str = "labqueue/build-proxy:latest"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BuildSettings:
        return cls(
            pip_index_url=env.get("LABQUEUE_PIP_INDEX_URL") or None,
            allow_source=env.get("LABQUEUE_BUILD_ALLOW_SOURCE", "0").strip().lower() in ("1", "true", "yes"),
            allow_hosts=tuple(env.get("LABQUEUE_BUILD_ALLOW_HOSTS", "").replace(",", " ").split()),
            proxy_network=env.get("LABQUEUE_BUILD_PROXY_NETWORK") or cls.proxy_network,
            proxy_image=env.get("LABQUEUE_BUILD_PROXY_IMAGE") or cls.proxy_image,
        )


@dataclass(frozen=True)
class ConsumerConfig:
    runtime: str
    slots: int
    name: str
    limits: SandboxLimits
    build: BuildSettings = BuildSettings()
    heartbeat_interval: float = 10.0
    env_image_budget_bytes: int = 20 * 2**30
    dataset_cache_bytes: int = 50 * 2**30
    disk_reserve_bytes: int = 10 * 2**30  # below this much free disk on the Docker host, no new job starts

    @classmethod
    def from_env(cls, runtime: str, slots: int, env: Mapping[str, str] = os.environ) -> ConsumerConfig:
        return cls(
            runtime=runtime,
            slots=slots,
            # Stable across restarts, so a restarted consumer recognises and removes what it left behind.
            name=env.get("LABQUEUE_CONSUMER_NAME") or f"{socket.gethostname()}-{runtime}",
            limits=SandboxLimits.from_env(env),
            build=BuildSettings.from_env(env),
            env_image_budget_bytes=int(env.get("LABQUEUE_ENV_IMAGE_BUDGET_GIB", "20")) * 2**30,
            dataset_cache_bytes=int(float(env.get("LABQUEUE_DATASET_CACHE_GIB", "50")) * 2**30),
            disk_reserve_bytes=int(float(env.get("LABQUEUE_DISK_RESERVE_GIB", "10")) * 2**30),
        )
