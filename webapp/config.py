"""Web settings, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import AfterValidator, ValidationInfo

from storage.config import MIB, JobLimitSettings
from storage.settings import Settings, Words, at_most, setting

# The names `make up` serves on when no public URL or host list is set: loopback only, as it binds.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# How long a live page waits before reconnecting its stream (the SSE retry the server announces); gunicorn keeps an
# idle connection open longer than this, so a reconnect never races the server closing the connection it reuses.
STREAM_RETRY_SECONDS = 2
KEEPALIVE_SECONDS = 3 * STREAM_RETRY_SECONDS
RATE = "a rate like '10/minute', several separated by ';' ('10/minute;50/hour')"


def _rate(value: str) -> str:
    """Checked at start-up, so a typo fails loudly instead of throttling nothing."""
    parse_many(value)
    return value


def _public_url(value: str | None) -> str | None:
    return value.rstrip("/") or None if value else None


def _trusted_hosts(listed: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
    """The Host names the web answers to: the admin's list, else loopback plus the public URL's host."""
    if listed:
        return tuple(name.lower() for name in listed)
    public_url = info.data.get("public_url")
    public = (urlsplit(public_url).hostname or "").lower() if public_url else ""
    return LOOPBACK_HOSTS + ((public,) if public and public not in LOOPBACK_HOSTS else ())


Rate = Annotated[str, AfterValidator(_rate)]


class WebConfig(JobLimitSettings):
    secret_key: str = setting(description="Flask session key; `make up` generates one in `var/labqueue.env`", shown="generated", secret=True)
    max_dataset_upload_mib: int = setting(
        4096,
        "largest dataset upload or readings CSV (a dataset zip may unpack to 8 times this); JSON readings up to 64 MiB",
        unit="MiB",
        ge=1,
    )
    default_time_limit: Annotated[int, at_most("max_time_limit")] = setting(
        None, "time limit of a job that asks for none", unit="seconds", ge=1, shown="the maximum"
    )
    default_memory_mib: Annotated[int, at_most("max_memory_mib")] = setting(
        None, "memory of a job that asks for none", unit="MiB", ge=16, shown="the maximum"
    )
    registration: bool = setting(False, "people may create their own accounts")
    secure_cookies: bool = setting(False, "cookies only over HTTPS: set when served over HTTPS")
    metrics_token: str | None = setting(
        None,
        "bearer token for `/metrics` and the details of `/api/v1/health` (without it only admins may read them)",
        secret=True,
    )
    streams_per_user: int = setting(
        20, "open live streams (pages, tabs, `submit --wait`) per user, across web processes (more: 429)", ge=1, le=10000
    )
    public_url: Annotated[str | None, AfterValidator(_public_url)] = setting(
        None, "where users reach the web (e.g. `https://labqueue.lab.example`); its host is trusted"
    )
    trusted_hosts: Annotated[Words, AfterValidator(_trusted_hosts)] = setting(
        (),
        "`Host` names the web answers to, comma-separated (`.lab.example` for subdomains); others get 400",
        shown="loopback + the public URL's host",
    )
    proxy_count: int = setting(0, "reverse proxies in front whose `X-Forwarded-*` headers are believed", ge=0, le=10)
    session_hours: float = setting(12.0, "a browser session ends this long after logging in, used or not", unit="hours", gt=0)
    login_rate_per_address: Rate = setting("10/minute;50/hour", "failed logins per client address before 429", expected=RATE)
    login_rate_per_account: Rate = setting(
        "5/minute;20/hour", "failed logins per account name, from any address, before 429 (a rate, never a lockout)", expected=RATE
    )
    bad_token_rate_per_address: Rate = setting(
        "20/minute", "requests with an unknown or revoked bearer token per client address before 429", expected=RATE
    )

    @property
    def max_dataset_upload_bytes(self) -> int:
        """Dataset files and readings: sensor data outgrow job zips."""
        return self.max_dataset_upload_mib * MIB


class ServerSettings(Settings):
    """gunicorn's settings for the web process (webapp/gunicorn_conf.py)."""

    web_worker_class: Literal["gevent", "gthread"] = setting(
        "gevent", "gunicorn worker class of the web; `gthread` brings back thread workers (one thread per open live page)"
    )
    web_workers: int = setting(4, "web worker processes", ge=1, le=256)
    web_connections: int = setting(2000, "open connections per gevent worker (live streams among them)", ge=1)
