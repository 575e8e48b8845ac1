"""docker-compose.yml as a Swarm stack: `docker stack deploy` on a single-node swarm made for the test, a job run.

The node is the only manager, so the consumers' placement is pointed at managers. The test leaves the swarm
(and removes the network the swarm made) at its end; it refuses to run in a swarm it did not make.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.compose.conftest import clean_environ, make_api, remove_job_leftovers, run, wait_health, write_env_file
from tests.conftest import free_port, make_zip, read_zip

pytestmark = pytest.mark.timeout(1200)

STACK_LABEL = "com.docker.stack.namespace"


@pytest.fixture
def single_node_swarm() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    state = client.info()["Swarm"]["LocalNodeState"]
    assert state == "inactive", f"this Docker is in a swarm already ({state}): the test makes its own and leaves it"
    had_gwbridge = any(n.name == "docker_gwbridge" for n in client.networks.list())
    run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"])
    try:
        yield client
    finally:
        run(["docker", "swarm", "leave", "--force"])
        if not had_gwbridge:
            for network in client.networks.list(names=["docker_gwbridge"]):
                if network.name == "docker_gwbridge":
                    network.remove()


def wait_until(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(1)


def remove_stack(client: docker.DockerClient, name: str) -> None:
    """`docker stack rm`, then what it leaves: its volumes, once its containers are gone."""
    run(["docker", "stack", "rm", name])
    selector = {"label": f"{STACK_LABEL}={name}"}
    wait_until(lambda: not client.containers.list(all=True, filters=selector), f"the containers of stack {name} gone")
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
    wait_until(lambda: not client.networks.list(filters=selector), f"the networks of stack {name} gone")


def test_the_compose_file_deploys_as_a_swarm_stack(built: None, single_node_swarm: docker.DockerClient, tmp_path: Path) -> None:
    client = single_node_swarm
    name = f"labqueue-test-{secrets.token_hex(4)}"
    port = free_port()
    # `docker stack deploy` reads no .env: the settings come from the environment, as the README says
    env = write_env_file(tmp_path / ".env", LABQUEUE_WEB_PORT=str(port), LABQUEUE_CONSUMER_CONSTRAINT="node.role == manager")
    engine = client.info()["Name"]
    try:
        run(
            ["docker", "stack", "deploy", "--resolve-image", "never", "-c", "docker-compose.yml", name],
            env={**clean_environ(), **env},
        )
        base_url = f"http://127.0.0.1:{port}"
        report = wait_health(base_url, {"python": 1, "matlab": 1}, timeout=300)
        assert {c["name"] for c in report["consumers"]} >= {
            f"{engine}-{name}_consumer-python.1",
            f"{engine}-{name}_consumer-matlab.1",
        }
        # the stack's state is in its named volumes
        volumes = {v.name for v in client.volumes.list(filters={"label": f"{STACK_LABEL}={name}"})}
        assert volumes == {f"{name}_postgres-data", f"{name}_rabbitmq-data", f"{name}_s3-data"}

        web = client.containers.list(filters={"label": f"com.docker.swarm.service.name={name}_web"})[0]
        api = make_api(["docker", "exec", "-i", web.id], base_url)
        events = api.open_events()
        job_id = api.submit(
            make_zip({"code.py": 'import os\nos.makedirs("output", exist_ok=True)\nopen("output/swarm.txt", "w").write("ran")\n'})
        )
        assert api.heard_end(events, job_id)["status"] == "succeeded"  # the live stream, as a results page holds it
        job = api.wait(job_id)
        assert (job["status"], job["consumer"]) == ("succeeded", f"{engine}-{name}_consumer-python.1"), job
        assert read_zip(api.output(job_id)) == {"swarm.txt": b"ran"}
    finally:
        remove_stack(client, name)
        remove_job_leftovers(f"{engine}-{name}_")
