"""Helpers for the tests of the admin side: a web process with settings of its own, Prometheus scrapes, ageing jobs
in the test database, per-user limits through the admin CLI."""

from __future__ import annotations

import secrets
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GUNICORN_CONFIG, ApiUser, Process, free_port, labqueue_admin

T = TypeVar("T")
SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep({seconds})\nprint('done')\n"
STRUCTURED_LOGGER = ["--logger-class", "webapp.weblogging.StructuredLogger", "--access-logfile", "-"]


def start_gunicorn(env: dict[str, str], log_dir: Path, name: str, extra_args: list[str] | None = None) -> tuple[Process, str]:
    """labqueue's web app under gunicorn, as `make up` runs it (structured logs), with this environment."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    args = [gunicorn, *GUNICORN_CONFIG, "--bind", f"127.0.0.1:{port}", "--workers", "2", *(extra_args or []), "webapp:create_app()"]
    process = Process(name, args, env, log_dir)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url + "/login", timeout=2)
            return process, url
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its workers still starting
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{process.log()[-3000:]}") from None
            time.sleep(0.3)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s (last: {result!r})")
        time.sleep(interval)


def database_path(env: dict[str, str]) -> Path:
    url = env["LABQUEUE_DATABASE_URL"]
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


def age_job(env: dict[str, str], job_id: str, days: float) -> None:
    """Move a finished job's times ``days`` into the past, as if it had run then."""
    shift = timedelta(days=days)
    with sqlite3.connect(database_path(env), timeout=30) as db:
        row = db.execute("SELECT submitted_at, started_at, finished_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert row is not None and row[2] is not None, row
        aged = [None if value is None else str(datetime.fromisoformat(value) - shift) for value in row]
        db.execute("UPDATE jobs SET submitted_at = ?, started_at = ?, finished_at = ? WHERE id = ?", (*aged, job_id))


def set_limits(env: dict[str, str], name: str, **limits: str) -> None:
    """``labqueue-admin set-limits NAME --max-running 2 ...`` (keys as the options, with _ for -)."""
    options = [part for key, value in limits.items() for part in (f"--{key.replace('_', '-')}", value)]
    result = labqueue_admin(env, "set-limits", name, *options)
    assert result.returncode == 0, result.stderr


def named_user(env: dict[str, str], base_url: str, name: str, admin: bool = False) -> ApiUser:
    """A user with this name (make_user's are random), for pictures that read like a lab's."""
    password = secrets.token_urlsafe(12)
    created = labqueue_admin(env, "create-user", name, "--password-stdin", *(["--admin"] if admin else []), stdin=password + "\n")
    assert created.returncode == 0, created.stderr
    token = labqueue_admin(env, "create-token", name)
    assert token.returncode == 0, token.stderr
    return ApiUser(base_url, name, password, token.stdout.strip())


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")

