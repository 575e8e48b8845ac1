"""Shared fixtures: the real services `make test` starts, labqueue's own processes, and helpers to drive them."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
import pytest
import requests

from bench.isolated import read_env_file
from consumer.config import BuildSettings
from consumer.egress import EgressKeeper, allowed_endpoints
from storage.config import StorageConfig
from storage.objects import ObjectStore
from tests.package_index import PackageIndex, wheel_bytes

pytest_plugins = ("tests.multihost.bed",)  # the multi-host test bed's fixtures, for tests/multihost and tests/compose

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = Path(os.environ.get("LABQUEUE_VAR", ROOT / "var")) / "labqueue.env"
GUNICORN_CONFIG = ["--config", str(ROOT / "webapp" / "gunicorn_conf.py")]  # as `make up` runs the web
TERMINAL = {"succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"}


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + vhost))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def package_index() -> Iterator[PackageIndex]:
    """A PEP 503 simple index holding ``labqueue-probe`` (a wheel), served from a container that builds reach only
    through the consumers' build proxy; tests add packages of their own."""
    client = docker.from_env()
    index = PackageIndex(client, "labqueue/worker-python:latest")
    try:
        index.add("labqueue-probe", *wheel_bytes("labqueue-probe", "1.0", {"labqueue_probe.py": b"ANSWER = 42\n"}))
        index.wait_until_serving()
        yield index
    finally:
        settings = BuildSettings(pip_index_url=index.url, proxy_network=index.name)
        EgressKeeper(client, allowed_endpoints(settings), settings.proxy_network, settings.proxy_image).remove()
        index.remove()
        client.close()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def isolated_env(base: dict[str, str], db_dir: Path, **overrides: str) -> Iterator[dict[str, str]]:
    """An environment with a vhost, bucket, database and consumer name of its own, removed afterwards."""
    session = secrets.token_hex(4)
    env = dict(base)
    broker_user = urlsplit(env["LABQUEUE_BROKER_URL"]).username or "labqueue"
    vhost = f"labqueue-test-{session}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, broker_user, ".*", ".*", ".*")
    env["LABQUEUE_BROKER_URL"] = with_vhost(env["LABQUEUE_BROKER_URL"], vhost)
    env["LABQUEUE_S3_BUCKET"] = f"labqueue-test-{session}"
    env["LABQUEUE_DATABASE_URL"] = f"sqlite:///{db_dir / f'labqueue-{session}.db'}"
    env["LABQUEUE_CONSUMER_NAME"] = f"test-{session}"
    env.update(overrides)
    migrate(env)
    store = ObjectStore(StorageConfig.from_env(env))
    try:
        yield env
    finally:
        rabbitmqctl("delete_vhost", vhost)
        remove_bucket(store)


@pytest.fixture(scope="session")
def test_env(tmp_path_factory: pytest.TempPathFactory, package_index: PackageIndex) -> Iterator[dict[str, str]]:
    """The environment of labqueue's processes under test: the real services, with a vhost, bucket and database of
    this session's own, so test runs never see each other's messages or objects."""
    if not ENV_FILE.exists():
        pytest.fail(f"{ENV_FILE} is missing: run the tests with `make test`, which starts the services")
    base = {
        **os.environ,
        **read_env_file(ENV_FILE),
        "LABQUEUE_MAX_TIME_LIMIT": "300",
        "LABQUEUE_MAX_MEMORY_MIB": "1024",
        "LABQUEUE_MAX_OUTPUT_MIB": "8",
        "LABQUEUE_MAX_LOG_MIB": "1",
        "PYTHONUNBUFFERED": "1",
        "LABQUEUE_PIP_INDEX_URL": package_index.url,
        "LABQUEUE_BUILD_PROXY_NETWORK": package_index.name,
    }
    with isolated_env(base, tmp_path_factory.mktemp("db")) as env:
        yield env


def remove_bucket(store: ObjectStore) -> None:
    client = store.client
    for item in client.list_objects(bucket_name=store.bucket, recursive=True):
        client.remove_object(bucket_name=store.bucket, object_name=item.object_name)
    client.remove_bucket(bucket_name=store.bucket)


class Process:
    """One of labqueue's processes, started for a test, its output kept in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self._offset = self._log.tell()  # a restart appends to the same file; read only this run's part
        self.popen = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        with self.log_path.open("rb") as file:
            file.seek(self._offset)
            return file.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not log {text!r} within {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def replace(self, other: Process) -> None:
        """Take over another process (a restart under the same name), so session fixtures stay valid."""
        self.popen, self._log, self.log_path, self._offset = other.popen, other._log, other.log_path, other._offset

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def start_consumer(env: dict[str, str], log_dir: Path, runtime: str = "python", slots: int = 2, name: str | None = None) -> Process:
    consumer_env = {**env, "LABQUEUE_CONSUMER_NAME": name or env["LABQUEUE_CONSUMER_NAME"] + "-" + runtime}
    process = Process(
        consumer_env["LABQUEUE_CONSUMER_NAME"],
        [sys.executable, "-m", "consumer", "--runtime", runtime, "--slots", str(slots)],
        consumer_env,
        log_dir,
    )
    process.wait_for_log("taking")
    return process


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


def start_producer(env: dict[str, str], log_dir: Path, name: str = "producer") -> Process:
    process = Process(name, [sys.executable, "-m", "producer"], env, log_dir)
    process.wait_for_log("producer running")
    return process


@pytest.fixture(scope="session")
def producer(test_env: dict[str, str], log_dir: Path) -> Iterator[Process]:
    process = start_producer(test_env, log_dir)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def python_consumer(test_env: dict[str, str], log_dir: Path, producer: Process) -> Iterator[Process]:
    process = start_consumer(test_env, log_dir, "python", slots=2)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def matlab_consumer(test_env: dict[str, str], log_dir: Path, producer: Process) -> Iterator[Process]:
    process = start_consumer(test_env, log_dir, "matlab", slots=1)
    yield process
    process.stop()


def start_web(env: dict[str, str], log_dir: Path, name: str = "web", host: str = "127.0.0.1") -> tuple[Process, str]:
    """labqueue's web app under gunicorn, as `make up` runs it, on a free port of ``host`` (loopback by default)."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = Process(name, [gunicorn, *GUNICORN_CONFIG, "--bind", f"{host}:{port}", "--workers", "2", "webapp:create_app()"], env, log_dir)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url + "/login", timeout=10)
            return process, url
        except (requests.ConnectionError, requests.Timeout):
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{process.log()[-3000:]}") from None
            time.sleep(0.3)


@pytest.fixture(scope="session")
def live_server(test_env: dict[str, str], log_dir: Path, producer: Process) -> Iterator[str]:
    process, url = start_web(test_env, log_dir)
    yield url
    process.stop()


def migrate(env: dict[str, str]) -> None:
    """`labqueue-admin migrate`, as the start-up scripts run it before any server: the web and the producer refuse a
    database that is not migrated."""
    done = labqueue_admin(env, "migrate")
    assert done.returncode == 0, done.stderr


def labqueue_admin(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``labqueue-admin ARGS``, as its module: the tree under test's code, whatever console scripts the venv has."""
    return subprocess.run(
        [sys.executable, "-m", "webapp.admin.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class ApiUser:
    """A user of the REST API with a bearer token made by `labqueue-admin create-token`."""

    base_url: str
    name: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base_url + path, headers=self.headers, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.base_url + path, headers=self.headers, timeout=120, **kwargs)

    def submit(self, zip_bytes: bytes, filename: str = "project.zip", **fields: str) -> requests.Response:
        return self.post("/api/v1/jobs", files={"file": (filename, zip_bytes, "application/zip")}, data=fields)

    def wait(self, job_id: str, timeout: float = 180, until: set[str] = TERMINAL) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/api/v1/jobs/{job_id}").json()
            if job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
            time.sleep(0.3)


def make_user(env: dict[str, str], base_url: str, admin: bool = False) -> ApiUser:
    name = f"user-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    created = labqueue_admin(env, "create-user", name, "--password-stdin", *(["--admin"] if admin else []), stdin=password + "\n")
    assert created.returncode == 0, created.stderr
    token = labqueue_admin(env, "create-token", name)
    assert token.returncode == 0, token.stderr
    return ApiUser(base_url, name, password, token.stdout.strip())


@pytest.fixture
def user(test_env: dict[str, str], live_server: str) -> ApiUser:
    return make_user(test_env, live_server)


def leftovers(client, selector: dict[str, str], timeout: float = 15) -> list:
    """Containers and volumes matching ``selector`` once clean-up (done just after a job's message is acked) settles."""
    deadline = time.monotonic() + timeout
    while True:
        found = client.containers.list(all=True, filters=selector) + client.volumes.list(filters=selector)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def make_zip(files: dict[str, str | bytes], top: str | None = "project") -> bytes:
    """A job zip in memory; ``top`` is the single top folder, or None for files at the root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{top}/{name}" if top else name, content)
    return buffer.getvalue()


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
