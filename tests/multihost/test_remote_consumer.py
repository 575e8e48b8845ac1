"""A consumer on another host joins with the documented settings only, and jobs submitted on the main host run on
that host's Docker; the outputs come back and the admin sees the host."""

from __future__ import annotations

import time
from contextlib import closing

import docker
import pytest

from consumer.sandbox import LABEL_JOB
from tests.admin_helpers import wait_for
from tests.conftest import ApiUser, Process, make_zip, read_zip
from tests.multihost.conftest import WORKER_IMAGE, Bed, BedStack, Host, python_consumer_args

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


@pytest.fixture
def stopping() -> list[Process]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


def test_a_consumer_on_another_host_runs_the_jobs_there(
    bed: Bed, bed_stack: BedStack, bed_user: ApiUser, bed_admin: ApiUser, log_dir, stopping: list[Process]
) -> None:
    host: Host = bed.hosts["w1"]
    host.load(WORKER_IMAGE)
    # Named as an admin's consumer would be by default: after its host.
    consumer = host.start("consumer-w1", python_consumer_args(), bed_stack.consumer_env(), log_dir)
    stopping.append(consumer)
    consumer.wait_for_log("taking python jobs")
    since = time.time() - 1
    job = run_one_job(bed_user)
    assert job["consumer"] == f"{host.hostname}-python"
    with closing(host.docker()) as remote, closing(docker.from_env()) as local:
        assert containers_made(remote, job["id"], since) == 1
        assert containers_made(local, job["id"], since) == 0
    wait_for(lambda: consumers_seen(bed_admin).get(job["consumer"]) == host.hostname, 60, f"admin health to show {host.hostname}")


def test_a_consumer_driving_a_remote_docker_host_names_that_host(
    bed: Bed, bed_stack: BedStack, bed_user: ApiUser, bed_admin: ApiUser, log_dir, stopping: list[Process]
) -> None:
    """The consumer process on the main host, its Docker on w2: the admin is shown w2, where the jobs run."""
    host = bed.hosts["w2"]
    host.load(WORKER_IMAGE)
    name = "main-consumer-of-w2"
    env = bed_stack.consumer_env(DOCKER_HOST=host.docker_host, LABQUEUE_CONSUMER_NAME=name)
    consumer = Process(name, python_consumer_args(), env, log_dir)
    stopping.append(consumer)
    consumer.wait_for_log("taking python jobs")
    since = time.time() - 1
    job = run_one_job(bed_user)
    assert job["consumer"] == name
    with closing(host.docker()) as remote:
        assert containers_made(remote, job["id"], since) == 1
    wait_for(lambda: consumers_seen(bed_admin).get(name) == host.hostname, 60, f"admin health to show {host.hostname}")
