"""Settings of the storage layer (the database and the object store) and the job limits that both the web (at
submission) and the consumer (again at run time) enforce, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from storage.settings import Settings, at_most, setting

MIB = 2**20


class DatabaseSettings(Settings):
    """Where the database is; admin commands need nothing else."""

    database_url: str = setting(
        "sqlite:///var/labqueue.db", "SQLAlchemy URL of the database (PostgreSQL: `postgresql+psycopg2://…`)"
    )


def database_url(env: Mapping[str, str] = os.environ) -> str:
    return DatabaseSettings.from_env(env).database_url


class StorageConfig(DatabaseSettings):
    """Where the database and the object store are, and how to reach them."""

    s3_endpoint: str = setting(description="S3 endpoint, `host:port` (SeaweedFS, MinIO, Ceph RGW, AWS S3)", shown="generated")
    s3_access_key: str = setting(description="the object store's access key", shown="generated")
    s3_secret_key: str = setting(description="the object store's secret key", shown="generated", secret=True)
    s3_bucket: str = setting("labqueue", "the bucket labqueue keeps its objects in")
    s3_secure: bool = setting(False, "HTTPS to the object store")
    s3_region: str = setting("us-east-1", "the object store's region")
    s3_public_endpoint: str | None = setting(
        None, "an S3 endpoint browsers can reach; downloads then redirect to presigned URLs"
    )


class JobLimitSettings(Settings):
    """The most a job may ask for, and what it gets when it asks for no disk: the web refuses more at submission and
    the consumer clamps to the same numbers, so both read these one declarations."""

    max_time_limit: int = setting(
        3600, "wall-clock maximum per job (RabbitMQ's consumer timeout is set above it)", unit="seconds", ge=1, le=7 * 86400
    )
    max_memory_mib: int = setting(2048, "memory maximum per job (no swap on top)", unit="MiB", ge=16, le=2**20)
    max_disk_mib: int = setting(16384, "most a job may write under `/job` (its `disk_limit`; over it: 422)", unit="MiB", ge=16)
    default_disk_mib: Annotated[int, at_most("max_disk_mib")] = setting(4096, "disk of a job that asks for none (at most the maximum)", unit="MiB", ge=16)
    max_upload_mib: int = setting(512, "largest job upload; the consumer checks the stored zip by the same rule", unit="MiB", ge=1)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mib * MIB
