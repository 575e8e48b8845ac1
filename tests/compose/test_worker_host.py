"""compose/worker.yml on another host of the test bed (tests/multihost): `docker compose` run on that host against
its own dockerd, the images carried over from this machine (docker save | docker load), and the settings the README
gives a consumer machine, nothing more. Jobs submitted on the main host run there; the admin sees that host."""

from __future__ import annotations

import os
import secrets
import time
from contextlib import closing
from pathlib import Path

from tests.admin_helpers import wait_for
from tests.compose.conftest import TEST_IMAGES, clean_environ, run
from tests.conftest import ApiUser
from tests.multihost.bed import TESTBED, Bed, BedStack, consumers_seen, containers_made, run_one_job

IMAGES = {key: TEST_IMAGES[key] for key in ("LABQUEUE_APP_IMAGE", "LABQUEUE_WORKER_PYTHON_IMAGE", "LABQUEUE_BUILD_PROXY_IMAGE")}


def test_worker_yml_on_another_host(
    built: None, bed: Bed, bed_stack: BedStack, bed_user: ApiUser, bed_admin: ApiUser, tmp_path: Path
) -> None:
    host = bed.hosts["w2"]
    host.load(*IMAGES.values())
    socket = host.docker_host.removeprefix("unix://")
    settings = {
        **bed_stack.remote,
        "LABQUEUE_DOCKER_SOCKET": socket,  # the test host's dockerd has no /var/run/docker.sock of its own
        "LABQUEUE_DOCKER_GID": str(os.stat(socket).st_gid),
        **IMAGES,
    }
    env_file = tmp_path / "worker.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    project = f"lqworker-{secrets.token_hex(3)}"
    compose = [str(TESTBED), "exec", host.key, "docker", "compose", "-p", project, "--env-file", str(env_file), "-f", "compose/worker.yml"]
    try:
        run([*compose, "up", "-d", "--wait", "--no-build", "consumer-python"], env=clean_environ())
        name = f"{host.hostname}-{project}-consumer-python-1"
        # Before the consumer reported its Docker host's name, a container's host name (its id) was shown.
        wait_for(lambda: consumers_seen(bed_admin).get(name) == host.hostname, 90, f"{name} on {host.hostname} in admin health")
        since = time.time() - 1
        job = run_one_job(bed_user)
        assert job["consumer"] == name
        with closing(host.docker()) as remote:
            assert containers_made(remote, job["id"], since) == 1
    finally:
        run([*compose, "down", "--volumes", "--timeout", "30"], env=clean_environ())
