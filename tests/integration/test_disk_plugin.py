"""The labqueue-disk volume plugin on this Docker host, through the Docker API as a consumer uses it: a volume
needs a size (no unbounded one can be asked for), it is a filesystem of that size owned by the job's user, and its
image is gone with it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import docker
import docker.errors
import pytest

from consumer.disk import create_bounded_volume
from consumer.disk_plugin import DRIVER


@pytest.fixture
def client() -> docker.DockerClient:
    return docker.from_env()


def test_a_volume_without_a_size_or_with_unknown_options_is_refused(client) -> None:
    for options in ({}, {"size": "lots"}, {"size": "1m"}, {"size": "64m", "device": "/dev/sda"}):
        with pytest.raises(docker.errors.APIError):
            client.volumes.create(f"labqueue-test-{secrets.token_hex(4)}", driver=DRIVER, driver_opts=options)


def test_a_bounded_volume_is_a_filesystem_of_its_size_and_leaves_nothing(client) -> None:
    name = f"labqueue-test-{secrets.token_hex(4)}"
    create_bounded_volume(client, name, 64, "1000:1000", {"labqueue.test": "disk"})
    try:
        mountpoint = client.api.inspect_volume(name)["Mountpoint"]  # <plugin root>/<name>/mnt
        stats = os.statvfs(mountpoint)
        assert 56 * 2**20 < stats.f_blocks * stats.f_frsize <= 64 * 2**20
        assert (os.stat(mountpoint).st_uid, os.stat(mountpoint).st_gid) == (1000, 1000)
        assert os.listdir(mountpoint) == []
    finally:
        client.api.remove_volume(name)
    assert not Path(mountpoint).parent.exists()
