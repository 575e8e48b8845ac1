"""Time to make a dataset version mountable on a Docker host: uncached (copied from the object store into a fresh
volume) against cached (the volume found complete and reused).

Usage: .venv/bin/python -m bench.mount_time [SIZE_MIB] [ROUNDS]   (default 500 MiB, 3 uncached rounds; needs the
services of `make up`)

The dataset (five files of random bytes) goes into a bucket and database of the benchmark's own; each uncached
round removes the volume first; the cached figure is the median of 20 lookups. A job's container then mounts the
volume read-only, which takes no copy.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker

from bench.isolated import isolated_env
from consumer.datasets import DatasetCache, volume_name
from consumer.logcapture import LogCapture
from storage.archive import ArchiveLimits
from storage.config import StorageConfig
from storage.dataset_layout import DatasetRef, load_manifest
from storage.dataset_uploads import UploadPart, create_version
from storage.datasets import Actor
from storage.db import Database
from storage.objects import ObjectStore

IMAGE = "labqueue/worker-python:latest"
FILES = 5


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    client = docker.from_env(timeout=600)
    with isolated_env() as env, tempfile.TemporaryDirectory(prefix="labqueue-mount-") as scratch:
        db = Database(env["LABQUEUE_DATABASE_URL"]).require_current()  # isolated_env migrated it
        store = ObjectStore(StorageConfig.from_env(env), timeout=600)
        paths = random_files(Path(scratch), size_mib)
        started = time.perf_counter()
        with contextlib.ExitStack() as files:
            parts = [UploadPart(path.name, files.enter_context(path.open("rb"))) for path in paths]
            create_version(db, store, Actor(None, "bench", is_admin=True), "bench-mount", "", parts, ArchiveLimits(max_upload_bytes=2**40))
        manifest, digest = load_manifest(store, DatasetRef("bench-mount", 1))
        print(f"dataset bench-mount@1: {len(manifest.files)} files, {manifest.total_bytes / 2**20:.0f} MiB, stored in {time.perf_counter() - started:.1f} s")
        volume = volume_name(manifest, digest)
        cache = DatasetCache(client, store, 2**40, IMAGE, "bench-mount")
        try:
            uncached = []
            for _ in range(rounds):
                remove(client, volume)
                started = time.perf_counter()
                cache.volumes_for(["bench-mount@1"], LogCapture(2**20))
                uncached.append(time.perf_counter() - started)
            cached = []
            for _ in range(20):
                started = time.perf_counter()
                cache.volumes_for(["bench-mount@1"], LogCapture(2**20))
                cached.append(time.perf_counter() - started)
        finally:
            remove(client, volume)
    rate = manifest.total_bytes / 2**20 / statistics.median(uncached)
    print(f"uncached (copy into a new volume): median {statistics.median(uncached):.2f} s over {rounds} "
          f"({', '.join(f'{s:.2f}' for s in uncached)}; {rate:.0f} MiB/s)")
    print(f"cached (volume reused):            median {statistics.median(cached) * 1000:.0f} ms over 20, max {max(cached) * 1000:.0f} ms")


def random_files(folder: Path, size_mib: int) -> list[Path]:
    paths = [folder / f"part-{index}.bin" for index in range(FILES)]
    for path in paths:
        with path.open("wb") as out:
            out.writelines(os.urandom(2**20) for _ in range(size_mib // FILES))
    return paths


def remove(client: docker.DockerClient, volume: str) -> None:
    for container in client.containers.list(all=True, filters={"name": volume}):
        container.remove(force=True)
    for cached in client.volumes.list(filters={"name": volume}):
        cached.remove(force=True)


if __name__ == "__main__":
    main()
