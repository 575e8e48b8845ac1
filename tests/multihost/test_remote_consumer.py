"""A consumer on another host joins with the documented settings only, and jobs submitted on the main host run on
that host's Docker; the outputs come back and the admin sees the host."""

from __future__ import annotations

import time
from contextlib import closing

import docker
import pytest

from tests.admin_helpers import wait_for
from tests.conftest import ApiUser, Process
from tests.multihost.bed import (
    WORKER_IMAGE,
    Bed,
    BedStack,
    Host,
    consumers_seen,
    containers_made,
    python_consumer_args,
    run_one_job,
)


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
