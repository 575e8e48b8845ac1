"""Web settings, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from storage.config import env_flag

MIB = 2**20


@dataclass(frozen=True)
class WebConfig:
    secret_key: str
    max_upload_bytes: int = 512 * MIB
    max_dataset_upload_bytes: int = 4096 * MIB  # dataset files and readings: sensor data outgrow job zips
    default_time_limit: int = 3600
    max_time_limit: int = 3600
    default_memory_mib: int = 2048
    max_memory_mib: int = 2048
    default_disk_mib: int = 4096  # what a job may write under /job (consumer/disk.py bounds it)
    max_disk_mib: int = 16384
    registration: bool = False
    secure_cookies: bool = False
    metrics_token: str | None = None  # Prometheus scrapes /metrics with it; admins' sessions work without
    streams_per_user: int = 20  # open live-update streams (pages, `submit --wait`) per user, across web processes

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebConfig:
        secret = env.get("LABQUEUE_SECRET_KEY", "").strip()
        if not secret:
            raise RuntimeError("LABQUEUE_SECRET_KEY is not set; `make up` generates one in var/labqueue.env")
        max_time = int(env.get("LABQUEUE_MAX_TIME_LIMIT", cls.max_time_limit))
        max_memory = int(env.get("LABQUEUE_MAX_MEMORY_MIB", cls.max_memory_mib))
        max_disk = int(env.get("LABQUEUE_MAX_DISK_MIB", cls.max_disk_mib))
        return cls(
            secret_key=secret,
            max_upload_bytes=int(env.get("LABQUEUE_MAX_UPLOAD_MIB", "512")) * MIB,
            max_dataset_upload_bytes=int(env.get("LABQUEUE_MAX_DATASET_UPLOAD_MIB", "4096")) * MIB,
            default_time_limit=min(int(env.get("LABQUEUE_DEFAULT_TIME_LIMIT", max_time)), max_time),
            max_time_limit=max_time,
            default_memory_mib=min(int(env.get("LABQUEUE_DEFAULT_MEMORY_MIB", max_memory)), max_memory),
            max_memory_mib=max_memory,
            default_disk_mib=min(int(env.get("LABQUEUE_DEFAULT_DISK_MIB", cls.default_disk_mib)), max_disk),
            max_disk_mib=max_disk,
            registration=env_flag(env.get("LABQUEUE_REGISTRATION")),
            secure_cookies=env_flag(env.get("LABQUEUE_SECURE_COOKIES")),
            metrics_token=env.get("LABQUEUE_METRICS_TOKEN", "").strip() or None,
            streams_per_user=int(env.get("LABQUEUE_STREAMS_PER_USER", cls.streams_per_user)),
        )
