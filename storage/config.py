"""Settings of the storage layer, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def env_flag(value: str | None, default: bool = False) -> bool:
    """Read a yes/no setting the way admins write them (1/0, true/false, yes/no, on/off)."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def require(env: Mapping[str, str], name: str) -> str:
    """Return a setting that has no safe default, or say clearly which one is missing."""
    value = env.get(name, "").strip()
    if not value:
        raise RuntimeError(f"{name} is not set (see README.md, 'Configuration')")
    return value


DEFAULT_DATABASE_URL = "sqlite:///var/labqueue.db"


def database_url(env: Mapping[str, str] = os.environ) -> str:
    return env.get("LABQUEUE_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class StorageConfig:
    """Where the database and the object store are, and how to reach them."""

    database_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_bucket: str = "labqueue"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_public_endpoint: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StorageConfig:
        return cls(
            database_url=database_url(env),
            s3_endpoint=require(env, "LABQUEUE_S3_ENDPOINT"),
            s3_access_key=require(env, "LABQUEUE_S3_ACCESS_KEY"),
            s3_secret_key=require(env, "LABQUEUE_S3_SECRET_KEY"),
            s3_bucket=env.get("LABQUEUE_S3_BUCKET", "labqueue"),
            s3_secure=env_flag(env.get("LABQUEUE_S3_SECURE")),
            s3_region=env.get("LABQUEUE_S3_REGION", "us-east-1"),
            s3_public_endpoint=env.get("LABQUEUE_S3_PUBLIC_ENDPOINT") or None,
        )
