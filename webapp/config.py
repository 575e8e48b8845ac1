"""Web settings, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from limits import parse_many

from storage.config import env_flag

MIB = 2**20
# The names `make up` serves on when no public URL or host list is set: loopback only, as it binds.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def _trusted_hosts(raw: str, public_url: str | None) -> tuple[str, ...]:
    """The Host names the web answers to: the admin's list, else loopback plus the public URL's host."""
    listed = tuple(name.strip().lower() for name in raw.split(",") if name.strip())
    if listed:
        return listed
    public = (urlsplit(public_url).hostname or "").lower() if public_url else ""
    return LOOPBACK_HOSTS + ((public,) if public and public not in LOOPBACK_HOSTS else ())


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate such as ``10/minute``, checked at start-up so a typo fails loudly instead of throttling nothing."""
    value = env.get(name, "").strip() or default
    try:
        parse_many(value)
    except ValueError as exc:
        raise RuntimeError(f"{name}={value!r} is not a rate like '10/minute': {exc}") from None
    return value


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
    public_url: str | None = None  # where users reach the web, e.g. https://labqueue.lab.example
    trusted_hosts: tuple[str, ...] = LOOPBACK_HOSTS  # other Host headers get 400
    proxy_count: int = 0  # reverse proxies in front whose X-Forwarded-* headers are believed
    session_hours: float = 12.0  # a browser session ends this long after logging in, used or not
    # Failed logins allowed before 429: per client address, and per account name from any address.
    login_rate_per_address: str = "10/minute;50/hour"
    login_rate_per_account: str = "5/minute;20/hour"
    bad_token_rate_per_address: str = "20/minute"  # requests with an unknown or revoked bearer token

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WebConfig:
        secret = env.get("LABQUEUE_SECRET_KEY", "").strip()
        if not secret:
            raise RuntimeError("LABQUEUE_SECRET_KEY is not set; `make up` generates one in var/labqueue.env")
        max_time = int(env.get("LABQUEUE_MAX_TIME_LIMIT", cls.max_time_limit))
        max_memory = int(env.get("LABQUEUE_MAX_MEMORY_MIB", cls.max_memory_mib))
        max_disk = int(env.get("LABQUEUE_MAX_DISK_MIB", cls.max_disk_mib))
        public_url = env.get("LABQUEUE_PUBLIC_URL", "").strip().rstrip("/") or None
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
            public_url=public_url,
            trusted_hosts=_trusted_hosts(env.get("LABQUEUE_TRUSTED_HOSTS", ""), public_url),
            proxy_count=int(env.get("LABQUEUE_PROXY_COUNT", "0") or 0),
            session_hours=float(env.get("LABQUEUE_SESSION_HOURS", cls.session_hours) or cls.session_hours),
            login_rate_per_address=_rate(env, "LABQUEUE_LOGIN_RATE_PER_ADDRESS", cls.login_rate_per_address),
            login_rate_per_account=_rate(env, "LABQUEUE_LOGIN_RATE_PER_ACCOUNT", cls.login_rate_per_account),
            bad_token_rate_per_address=_rate(env, "LABQUEUE_BAD_TOKEN_RATE_PER_ADDRESS", cls.bad_token_rate_per_address),
        )
