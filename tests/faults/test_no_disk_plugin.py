"""A consumer whose Docker host cannot make size-capped volumes (no labqueue-disk plugin there) refuses to start,
saying what to run, rather than run jobs whose disk nothing bounds."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.faults.dockerd import PrivateDockerd


@pytest.fixture
def dockerd_without_plugin() -> Iterator[PrivateDockerd]:
    daemon = PrivateDockerd(without_plugins=True)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.remove()


def test_consumer_refuses_to_start_on_a_docker_host_without_the_disk_plugin(
    dockerd_without_plugin: PrivateDockerd, test_env: dict[str, str]
) -> None:
    name = f"test-no-plugin-{secrets.token_hex(3)}"
    env = {**test_env, "DOCKER_HOST": dockerd_without_plugin.url, "LABQUEUE_CONSUMER_NAME": name}
    consumer = subprocess.run(
        [sys.executable, "-m", "consumer", "--runtime", "python", "--slots", "1"], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert consumer.returncode != 0, consumer.stderr
    assert f"consumer {name} not started" in consumer.stderr
    assert "labqueue-disk" in consumer.stderr and "scripts/docker.sh" in consumer.stderr
    assert "Traceback" not in consumer.stderr, "a clear message, not a stack trace"
