"""The compose deployment under test: images built here, stacks under names of their own, an API client.

Every stack uses test tags for the images it builds (labqueue/compose-test-*), so it never retags the images of
`make up`; the tags stay between runs, which keeps a warm run quick. Everything else a test creates (projects,
volumes, networks, swarm membership, job containers) goes at its end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from client.api import parse_events
from tests.conftest import ROOT, TERMINAL

TEST_IMAGES = {
    "LABQUEUE_APP_IMAGE": "labqueue/compose-test-app:latest",
    "LABQUEUE_S3_IMAGE": "labqueue/compose-test-seaweedfs:latest",
    "LABQUEUE_WORKER_PYTHON_IMAGE": "labqueue/compose-test-worker-python:latest",
    "LABQUEUE_WORKER_MATLAB_IMAGE": "labqueue/compose-test-worker-matlab:latest",
    "LABQUEUE_BUILD_PROXY_IMAGE": "labqueue/compose-test-build-proxy:latest",
}
LABEL_CONSUMER = "labqueue.consumer"
# Sent by wait_health: the consumers in /api/v1/health are for admins and the metrics token only.
METRICS_TOKEN = secrets.token_urlsafe(16)


def clean_environ() -> dict[str, str]:
    """This process's environment without labqueue's or compose's settings: they would override the env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABQUEUE_", "COMPOSE_"))}
    env["DOCKER_BUILDKIT"] = "0"  # the host's docker CLI has no buildx
    return env


def run(args: list[str], timeout: float = 600, input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a command from the repository's root; fail with its output when it fails."""
    proc = subprocess.run(
        args, check=False, cwd=ROOT, env=env or clean_environ(), input=input, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def write_env_file(path: Path, **settings: str) -> dict[str, str]:
    """An .env as an admin gets it from scripts/compose-env.sh --local, with ``settings`` (and the test images, and
    the metrics token that lets wait_health see the consumers) first."""
    first = {**TEST_IMAGES, "LABQUEUE_METRICS_TOKEN": METRICS_TOKEN, **settings}
    path.write_text("".join(f"{key}={value}\n" for key, value in first.items()))
    run([str(ROOT / "scripts" / "compose-env.sh"), "--local", str(path)])
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key] = value
    return values


@dataclass
class Compose:
    """`docker compose` for one project, one env file and its compose files."""

    project: str
    env_file: Path
    files: tuple[str, ...] = ()

    def __call__(self, *args: str, timeout: float = 600, input: str | None = None) -> str:
        command = ["docker", "compose", "-p", self.project, "--env-file", str(self.env_file)]
        for name in self.files:
            command += ["-f", name]
        return run([*command, *args], timeout=timeout, input=input)

    def labqueue(self, *args: str, input: str | None = None) -> str:
        return self("exec", "-T", "web", "labqueue-admin", *args, input=input)


@dataclass
class Api:
    base_url: str
    token: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(
            method, f"{self.base_url}/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"}, timeout=60, **kwargs
        )
        response.raise_for_status()
        return response

    def submit(self, zip_bytes: bytes, name: str = "job.zip") -> str:
        return self.call("POST", "/jobs", files={"file": (name, zip_bytes, "application/zip")}).json()["id"]

    def job(self, job_id: str) -> dict:
        return self.call("GET", f"/jobs/{job_id}").json()

    def output(self, job_id: str) -> bytes:
        return self.call("GET", f"/jobs/{job_id}/output").content

    def log(self, job_id: str) -> str:
        return self.call("GET", f"/jobs/{job_id}/log").text

    def open_events(self, timeout: float = 180) -> requests.Response:
        """The caller's live stream (/api/v1/events, every job of theirs), open: the server has registered it."""
        response = requests.get(
            f"{self.base_url}/api/v1/events", headers={"Authorization": f"Bearer {self.token}"}, stream=True, timeout=(10, timeout)
        )
        response.raise_for_status()
        return response

    @staticmethod
    def heard_end(events: requests.Response, job_id: str) -> dict:
        """The job as the open stream announces its final state (the recorder's change, fanned out over the broker)."""
        with events:
            for name, data in parse_events(events.iter_lines(chunk_size=None, decode_unicode=True)):
                if name == "job" and data["id"] == job_id and data["status"] in TERMINAL:
                    return data
        raise AssertionError(f"the stream ended without job {job_id}'s end")

    def wait(self, job_id: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while (job := self.job(job_id))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout}s"
            time.sleep(0.5)
        return job


def wait_health(base_url: str, consumers: dict[str, int], timeout: float = 120) -> dict:
    """Wait until /api/v1/health is ok and lists (at least) ``consumers`` per runtime."""
    deadline, report = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            report = requests.get(f"{base_url}/api/v1/health", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=5).json()
        except (requests.RequestException, ValueError):
            report = {}
        seen = [c["runtime"] for c in report.get("consumers", [])]
        if report.get("status") == "ok" and all(seen.count(r) >= n for r, n in consumers.items()):
            return report
        time.sleep(1)
    raise AssertionError(f"health never showed {consumers} within {timeout}s: {report}")


def make_api(admin: Compose | list[str], base_url: str) -> Api:
    """A fresh user and token, made with `labqueue-admin` inside the web container (``admin``: compose, or a docker exec)."""
    name = f"user{secrets.token_hex(3)}"
    cli = admin.labqueue if isinstance(admin, Compose) else (lambda *a, input=None: run([*admin, "labqueue-admin", *a], input=input))
    cli("create-user", name, "--password-stdin", input=secrets.token_urlsafe(16) + "\n")
    return Api(base_url, cli("create-token", name).strip().splitlines()[-1])


def remove_job_leftovers(consumer_prefix: str) -> None:
    """Job containers and volumes of consumers whose names start with ``consumer_prefix`` (there should be none)."""
    client = docker.from_env()
    for container in client.containers.list(all=True, filters={"label": LABEL_CONSUMER}):
        if container.labels[LABEL_CONSUMER].startswith(consumer_prefix):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"label": LABEL_CONSUMER}):
        if volume.attrs["Labels"][LABEL_CONSUMER].startswith(consumer_prefix):
            volume.remove(force=True)


@pytest.fixture(scope="session")
def compose_images() -> None:
    """Docker Compose, the local stand-ins for registry images, and the images compose builds (quick when warm)."""
    run([str(ROOT / "scripts" / "compose.sh")])
    run([str(ROOT / "scripts" / "compose-images.sh")], timeout=3600)


@pytest.fixture(scope="session")
def built(compose_images: None, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`docker compose build` of labqueue's image, the S3 image and the worker images, under the test tags."""
    env_file = tmp_path_factory.mktemp("build") / ".env"
    write_env_file(env_file)
    client = docker.from_env()
    before = {}
    for tag in TEST_IMAGES.values():
        try:
            before[tag] = client.images.get(tag).id
        except docker.errors.ImageNotFound:
            pass
    Compose(f"labqueue-test-{secrets.token_hex(4)}", env_file)("build", timeout=3600)
    for tag, old in before.items():
        if client.images.get(tag).id != old:
            try:  # the superseded build, unless something still uses it
                client.images.remove(old)
            except docker.errors.APIError:
                pass
