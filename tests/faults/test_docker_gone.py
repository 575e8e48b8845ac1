"""A job's wait on its container when the Docker daemon goes away: it ends at once with an InfraError (the job goes
back to the queue) instead of taking "daemon unreachable" for "still running" and spinning until the time limit.

The daemon is a dockerd of the test's own (its own data root, exec root and socket, no networking), never the
machine's: killing it must not touch anyone else's containers."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from consumer.config import ConsumerConfig, SandboxLimits
from consumer.datasets import DatasetCache
from consumer.environments import EnvironmentCache
from consumer.errors import InfraError
from consumer.job import JobRun
from consumer.runtimes import load_runtime
from producer.contract import JobMessage
from storage.config import StorageConfig
from storage.objects import ObjectStore, job_prefix
from tests.faults.dockerd import PrivateDockerd

IMAGE = "lq-sleeper:test"


def sleeper_rootfs(target: Path) -> Path:
    """The smallest image a job's container can be: /bin/sleep and the libraries it loads (no registry needed)."""
    root = target / "rootfs"
    libraries = subprocess.run(["ldd", "/bin/sleep"], capture_output=True, text=True, check=True).stdout.split()
    for path in ["/bin/sleep", *(item for item in libraries if item.startswith("/"))]:
        (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / path.lstrip("/"))
    tar = target / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


@pytest.fixture
def dockerd() -> Iterator[PrivateDockerd]:
    daemon = PrivateDockerd()
    daemon.start()
    try:
        client = docker.DockerClient(base_url=daemon.url, timeout=60)
        client.api.import_image_from_data(sleeper_rootfs(daemon.root).read_bytes(), repository=IMAGE.split(":")[0], tag="test")
        client.close()
        yield daemon
    finally:
        daemon.remove()


def counting(method: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return method(*args, **kwargs)

    return counted, calls


def test_wait_ends_with_infra_error_when_the_daemon_dies(dockerd: PrivateDockerd, test_env: dict[str, str]) -> None:
    client = docker.DockerClient(base_url=dockerd.url, timeout=30)
    store = ObjectStore(StorageConfig.from_env(test_env))
    job_id = secrets.token_hex(16)
    config = ConsumerConfig(runtime="python", slots=1, name=f"test-dockerd-{job_id[:6]}", limits=SandboxLimits())
    cancelled, shutdown = threading.Event(), threading.Event()
    run = JobRun(
        message=JobMessage(job_id=job_id, runtime="python", input_key=f"jobs/{job_id}/input.zip", time_limit=60, memory_limit=256),
        attempt=1,
        config=config,
        runtime=load_runtime("python", test_env),
        client=client,
        store=store,
        environments=EnvironmentCache(client, config.env_image_budget_bytes, config.build),
        datasets=DatasetCache(client, store, config.dataset_cache_bytes, IMAGE, config.name),
        report=lambda event: None,
        cancelled=cancelled,
        shutdown=shutdown,
    )
    host_bridges = {path.name for path in Path("/sys/class/net").iterdir()}
    container = client.containers.create(IMAGE, ["/bin/sleep", "600"], network_disabled=True)
    container.start()
    container.wait, calls = counting(container.wait)
    killer = threading.Timer(3.0, dockerd.kill)
    killer.start()
    try:
        started_cpu = time.process_time()
        with pytest.raises(InfraError, match="Docker daemon"):
            run.watch.wait(container, time.monotonic())
        cpu = time.process_time() - started_cpu
        assert not dockerd._answers()
        # Before the daemon died each call waited its step (about a second); after, the first failed call ends it.
        # The old loop called wait() thousands of times a second until the job's 60 s time limit.
        assert calls[0] <= 6, f"wait() was called {calls[0]} times, using {cpu:.1f} s of CPU"
        # The private daemon never touched the host's interfaces (docker0 above all).
        assert host_bridges <= {path.name for path in Path("/sys/class/net").iterdir()}
    finally:
        killer.cancel()
        client.close()
        for key in store.keys_under(job_prefix(job_id)):
            store.client.remove_object(bucket_name=store.bucket, object_name=key)
