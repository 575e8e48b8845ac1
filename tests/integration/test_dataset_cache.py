"""The consumer's dataset volume cache on the real Docker engine and object store: least recently used volumes go
past the budget, a fill cut short by a crash is redone, and two consumers on one host fill a version once."""

from __future__ import annotations

import io
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from consumer.datasets import LABEL_FILLER, LABEL_VOLUME, DatasetCache, fill_name, volume_name
from storage.archive import ArchiveLimits
from storage.config import StorageConfig
from storage.dataset_layout import DatasetRef, Manifest, load_manifest
from storage.dataset_uploads import UploadPart, create_version
from storage.datasets import Actor
from storage.db import Database
from storage.objects import ObjectStore

IMAGE = "labqueue/worker-python:latest"
PREFIX = f"c{secrets.token_hex(3)}"
MIB = 2**20


@pytest.fixture(scope="module")
def store(test_env: dict[str, str]) -> ObjectStore:
    return ObjectStore(StorageConfig.from_env(test_env))


@pytest.fixture(scope="module")
def db(test_env: dict[str, str]) -> Database:
    database = Database(test_env["LABQUEUE_DATABASE_URL"])
    database.upgrade()
    return database


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """Removes this module's volumes, holders and fill containers afterwards."""
    docker_client = docker.from_env()
    yield docker_client
    mine = f"labqueue-dataset-{PREFIX}-"
    for container in docker_client.containers.list(all=True, filters={"label": LABEL_VOLUME}):
        if container.labels[LABEL_VOLUME].startswith(mine):
            container.remove(force=True)
    for volume in docker_client.volumes.list(filters={"name": mine}):
        volume.remove(force=True)
    docker_client.close()


def make_version(db: Database, store: ObjectStore, files: dict[str, bytes]) -> tuple[Manifest, str]:
    name = f"{PREFIX}-{secrets.token_hex(3)}"
    parts = [UploadPart(path, io.BytesIO(data)) for path, data in files.items()]
    create_version(db, store, Actor(None, "tests", is_admin=True), name, "", parts, ArchiveLimits())
    return load_manifest(store, DatasetRef(name, 1))


def volume_files(client: docker.DockerClient, volume: str) -> dict[str, bytes]:
    """The files in a cached volume, read through its holder container (never started)."""
    stream, _stat = client.containers.get(volume).get_archive("/dataset/.")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {member.name.removeprefix("./"): tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}


def exists(client: docker.DockerClient, volume: str) -> bool:
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        return False
    return True


def test_least_recently_used_volumes_go_past_the_budget(db, store, client) -> None:
    versions = [make_version(db, store, {"data.bin": secrets.token_bytes(MIB)}) for _ in range(3)]
    a, b, c = (volume_name(manifest, digest) for manifest, digest in versions)
    cache = DatasetCache(client, store, budget_bytes=int(2.5 * MIB), helper_image=IMAGE, consumer=f"{PREFIX}-x", eviction_grace=0)
    for (manifest, _digest), volume in [(versions[0], a), (versions[1], b)]:
        assert cache.ensure(manifest, volume) is True
        time.sleep(1.1)  # last-use times have whole seconds
    assert cache.ensure(versions[0][0], a) is False  # a is now used more recently than b
    time.sleep(1.1)
    assert cache.ensure(versions[2][0], c) is True  # 3 MiB > 2.5 MiB: the least recently used goes
    assert exists(client, a) and exists(client, c) and not exists(client, b)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(b)
    assert volume_files(client, a) == {"data.bin": store.get_bytes(f"datasets/{versions[0][0].name}/v1/files/data.bin")}


def test_a_fill_cut_short_is_redone(db, store, client) -> None:
    manifest, digest = make_version(db, store, {"readings.csv": b"equipment_id,timestamp,value\n", "x.bin": b"xyz"})
    volume = volume_name(manifest, digest)
    consumer = f"{PREFIX}-crashed"
    client.volumes.create(volume)
    helper = client.containers.create(IMAGE, ["true"], name=fill_name(volume), volumes={volume: {"bind": "/dataset", "mode": "rw"}},
                                      labels={LABEL_VOLUME: volume, LABEL_FILLER: consumer})
    partial = io.BytesIO()
    with tarfile.open(fileobj=partial, mode="w") as tar:
        member = tarfile.TarInfo("readings.csv")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"equ"))
    helper.put_archive("/dataset", partial.getvalue())  # the consumer died here, before the rename

    cache = DatasetCache(client, store, budget_bytes=10 * MIB, helper_image=IMAGE, consumer=consumer)
    assert cache.ensure(manifest, volume) is True
    assert volume_files(client, volume) == {"readings.csv": b"equipment_id,timestamp,value\n", "x.bin": b"xyz"}
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(fill_name(volume))
    assert cache.ensure(manifest, volume) is False


def test_two_consumers_on_one_host_fill_a_version_once(db, store, client) -> None:
    manifest, digest = make_version(db, store, {"big.bin": secrets.token_bytes(16 * MIB)})
    volume = volume_name(manifest, digest)
    caches = [DatasetCache(client, store, 100 * MIB, IMAGE, f"{PREFIX}-{n}") for n in range(2)] * 2  # two slots each
    results: list[bool] = []
    threads = [threading.Thread(target=lambda cache=cache: results.append(cache.ensure(manifest, volume))) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [False, False, False, True]
    assert len(volume_files(client, volume)["big.bin"]) == 16 * MIB
