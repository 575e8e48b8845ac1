"""Fault injection needs servers it may stop: a RabbitMQ node and a SeaweedFS S3 server of the test's own (tests/private_servers.py)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from storage.config import StorageConfig
from storage.objects import ObjectStore, ObjectStoreError
from tests.conftest import ApiUser, Process, make_user, migrate, start_consumer, start_producer, start_web
from tests.private_servers import PrivateBroker, PrivateStore, server_settings


@dataclass
class FaultStack:
    """labqueue on a private broker and store: web, producer and consumers, each restartable."""

    env: dict[str, str]
    log_dir: Path
    broker: PrivateBroker
    store: PrivateStore
    processes: dict[str, Process] = field(default_factory=dict)
    url: str = ""

    def start_consumer(self, name: str, slots: int = 2) -> Process:
        process = start_consumer(self.env, self.log_dir, "python", slots=slots, name=f"{self.env['LABQUEUE_CONSUMER_NAME']}-{name}")
        self.processes[name] = process
        return process

    def start_producer(self) -> Process:
        self.processes["producer"] = start_producer(self.env, self.log_dir, "producer-faults")
        return self.processes["producer"]

    def consumer_log(self) -> str:
        return "".join(p.log_path.read_text(errors="replace") for name, p in self.processes.items() if name.startswith("consumer"))

    def object_store(self) -> ObjectStore:
        return ObjectStore(StorageConfig.from_env(self.env))

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


@pytest.fixture
def fault_stack(test_env: dict[str, str], log_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FaultStack]:
    marker = request.node.get_closest_marker("broker")
    options = marker.kwargs if marker else {}
    (tmp_path / "broker").mkdir()
    (tmp_path / "store").mkdir()
    broker = PrivateBroker(tmp_path / "broker", options.get("consumer_timeout_ms", 3_600_000))
    store = PrivateStore(tmp_path / "store")
    broker.start()
    store.start()
    env = {
        **test_env,
        **server_settings(broker, store),
        "LABQUEUE_S3_BUCKET": "labqueue",
        "LABQUEUE_DATABASE_URL": f"sqlite:///{tmp_path / 'labqueue.db'}",
        "LABQUEUE_DELIVERY_LIMIT": str(options.get("delivery_limit", 3)),
    }
    migrate(env)  # the schema and the bucket
    stack = FaultStack(env, log_dir, broker, store)
    try:
        stack.start_producer()
        web, stack.url = start_web(env, log_dir, "web-faults")
        stack.processes["web"] = web
        yield stack
    finally:
        stack.stop()
        broker.stop(signal.SIGKILL)  # their data is thrown away: no need to wait for a clean shutdown
        store.stop(signal.SIGKILL)


@pytest.fixture
def fault_user(fault_stack: FaultStack) -> ApiUser:
    return make_user(fault_stack.env, fault_stack.url)


def wait_all(user: ApiUser, job_ids: list[str], timeout: float) -> dict[str, dict]:
    """Every job's final record, waiting for all of them at once."""
    deadline = time.monotonic() + timeout
    pending, done = set(job_ids), {}
    while pending:
        page = 1
        while True:
            listing = user.get(f"/api/v1/jobs?per_page=200&page={page}").json()
            for job in listing["items"]:
                if job["id"] in pending and job["status"] in TERMINAL:
                    done[job["id"]] = job
                    pending.discard(job["id"])
            if page * 200 >= listing["total"]:
                break
            page += 1
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} job(s) unfinished after {timeout} s, e.g. {sorted(pending)[:3]}")
        time.sleep(1)
    return done


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def store_is_down(store: ObjectStore) -> bool:
    try:
        store.ping()
        return False
    except ObjectStoreError:
        return True


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


TERMINAL = {"succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"}
