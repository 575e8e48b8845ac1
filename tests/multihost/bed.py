"""The test bed of scripts/testbed.sh: worker hosts in network namespaces on a bridge of this machine, each with a
dockerd of its own, and the main host's broker, object store, producer and web listening on the bridge address.
A plugin of the root conftest (pytest_plugins): tests/multihost and tests/compose share one bed per session.

A consumer on a worker host is started inside that host's namespaces and told only what the README tells an admin
of another machine: the broker URL and the object store's endpoint and keys (server_settings)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from consumer.sandbox import LABEL_JOB
from tests.conftest import ENV_FILE, ROOT, ApiUser, Process, make_user, make_zip, migrate, read_zip, start_producer, start_web
from tests.private_servers import PrivateBroker, PrivateStore, server_settings

TESTBED = ROOT / "scripts" / "testbed.sh"
HOSTS = 2
WORKER_IMAGE = "labqueue/worker-python:latest"


def testbed(*args: str, timeout: float = 600) -> str:
    proc = subprocess.run([str(TESTBED), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"testbed.sh {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@dataclass(frozen=True)
class Host:
    """One worker host of the bed: ``key`` (w1), its host name, its address on the bridge and its dockerd."""

    key: str
    hostname: str
    address: str
    docker_host: str

    def docker(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, timeout=120)

    def load(self, *images: str) -> None:
        """The images from this machine's dockerd, as an admin would carry them over (docker save | docker load)."""
        testbed("load", self.key, *images)

    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Process:
        """A process on this host (its network, host name and dockerd), with ``env`` and no other setting."""
        return Process(name, [str(TESTBED), "exec", self.key, *args], env, log_dir)


@dataclass(frozen=True)
class Bed:
    main: str  # the main host's address on the bridge
    hosts: dict[str, Host]


def interfaces() -> set[str]:
    return {path.name for path in Path("/sys/class/net").iterdir()}


@pytest.fixture(scope="session")
def bed() -> Iterator[Bed]:
    # One bed on the machine at a time: a second session waits for the first (their names and addresses are the
    # same). Under the lock, a bed that is up was left by a session that died: it goes first.
    with (ENV_FILE.parent / "testbed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        testbed("down")
        before = {name for name in interfaces() if not name.startswith(("veth", "br-"))}  # other tests' networks come and go
        try:
            testbed("up", str(HOSTS))
            values = dict(line.split("=", 1) for line in testbed("env").split())
            hosts = {
                key: Host(key, values[f"LABQUEUE_TESTBED_{key.upper()}_NAME"], values[f"LABQUEUE_TESTBED_{key.upper()}_ADDR"],
                          values[f"LABQUEUE_TESTBED_{key.upper()}_DOCKER_HOST"])
                for key in (f"w{i}" for i in range(1, HOSTS + 1))
            }
            yield Bed(values["LABQUEUE_TESTBED_MAIN"], hosts)
        finally:
            testbed("down")
            # Down leaves the machine's interfaces as they were (docker0 above all), and no link or namespace of the bed.
            after = interfaces()
            assert before <= after, f"interfaces gone: {sorted(before - after)}"
            assert not {name for name in after if name.startswith("lqtb")}, f"left: {sorted(after)}"
            assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split() if ns.startswith("lqtb-")]


@dataclass
class BedStack:
    """The main host's side: private broker and store on the bridge address, producer and web beside them."""

    env: dict[str, str]  # the main host's processes' settings
    remote: dict[str, str]  # what a consumer on another host is given
    url: str
    broker: PrivateBroker
    store: PrivateStore

    def consumer_env(self, **extra: str) -> dict[str, str]:
        """A worker host's consumer environment: the joining settings, a PATH, this tree's code, nothing more."""
        env = {"PATH": os.environ["PATH"], **self.remote, **extra}
        if "PYTHONPATH" in os.environ:  # the tree under test, when it is not the installed one
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env


@pytest.fixture(scope="session")
def bed_stack(bed: Bed, test_env: dict[str, str], log_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BedStack]:
    root = tmp_path_factory.mktemp("bed")
    (root / "broker").mkdir()
    (root / "store").mkdir()
    broker = PrivateBroker(root / "broker", host=bed.main)
    store = PrivateStore(root / "store", host=bed.main)
    broker.start()
    store.start()
    processes: list[Process] = []
    try:
        remote = server_settings(broker, store)
        env = {
            **test_env,
            **remote,
            "LABQUEUE_S3_BUCKET": "labqueue",
            "LABQUEUE_DATABASE_URL": f"sqlite:///{root / 'labqueue.db'}",
            "LABQUEUE_TRUSTED_HOSTS": bed.main,
        }
        migrate(env)  # the schema and the bucket, as an admin's start-up makes them
        processes.append(start_producer(env, log_dir, "producer-bed"))
        web, url = start_web(env, log_dir, "web-bed", host=bed.main)
        processes.append(web)
        yield BedStack(env, remote, url, broker, store)
    finally:
        for process in processes:
            process.stop()
        broker.stop(signal.SIGKILL)  # their data is thrown away: no need to wait for a clean shutdown
        store.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def bed_user(bed_stack: BedStack) -> ApiUser:
    return make_user(bed_stack.env, bed_stack.url)


@pytest.fixture(scope="session")
def bed_admin(bed_stack: BedStack) -> ApiUser:
    return make_user(bed_stack.env, bed_stack.url, admin=True)


def python_consumer_args(slots: int = 1) -> list[str]:
    return [sys.executable, "-m", "consumer", "--runtime", "python", "--slots", str(slots)]


CODE = """
import os, platform
os.makedirs("output", exist_ok=True)
with open("output/answer.txt", "w") as f:
    f.write("42 from " + os.environ["LABQUEUE_JOB_ID"])
print("ran on", platform.machine())
"""


def run_one_job(user: ApiUser) -> dict:
    response = user.submit(make_zip({"code.py": CODE}), runtime="python")
    assert response.status_code == 201, response.text
    job = user.wait(response.json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    output = user.get(f"/api/v1/jobs/{job['id']}/output")
    assert output.status_code == 200
    assert read_zip(output.content)["answer.txt"] == f"42 from {job['id']}".encode()
    return job


def containers_made(client: docker.DockerClient, job_id: str, since: float) -> int:
    """How many containers of the job this dockerd created since ``since``."""
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True, filters={"type": "container", "event": "create", "label": f"{LABEL_JOB}={job_id}"})
    return sum(1 for _ in events)


def consumers_seen(admin: ApiUser) -> dict[str, str]:
    """Consumer name -> host, as admin health shows them."""
    return {c["name"]: c["host"] for c in admin.get("/api/v1/health").json().get("consumers", [])}
