"""A job's wait on its container when the Docker daemon goes away: it ends at once with an InfraError (the job goes
back to the queue) instead of taking "daemon unreachable" for "still running" and spinning until the time limit.

The daemon is a dockerd of the test's own (its own data root, exec root and socket, no networking), never the
machine's: killing it must not touch anyone else's containers."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
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

IMAGE = "lq-sleeper:test"


class PrivateDockerd:
    """A dockerd (and the containerd it manages) in a session of its own, under a short temporary directory (a unix
    socket's path must fit in 108 bytes)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lqdk", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> None:
        # Its own network namespace: a dockerd started with --bridge=none deletes the bridge named docker0 of the
        # namespace it runs in, which would be the host's, and every container on Docker's default network with it.
        args = [
            "unshare", "--net", "--",
            "dockerd", f"--data-root={self.root / 'data'}", f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}", f"--host={self.url}",
            "--bridge=none", "--iptables=false", "--ip6tables=false",
        ]
        log = (self.root / "dockerd.log").open("ab")
        self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the private dockerd did not start; see {self.root / 'dockerd.log'}")
            time.sleep(0.3)

    def _answers(self) -> bool:
        try:
            client = docker.DockerClient(base_url=self.url, timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except docker.errors.DockerException:
            return False

    def kill(self) -> None:
        """Gone at once, as in a crash (its containerd follows it; the container's shim and process live on)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(60)

    def remove(self) -> None:
        """Remove what the killed daemon left: its containers' processes and shims, mounts, cgroups and files.
        (A dockerd restarted on a SIGKILLed one's exec root waits for its containerd in vain.)"""
        self.stop()
        marker = str(self.root).encode()
        left = [pid for pid in _pids() if marker in _read(f"/proc/{pid}/cmdline")]
        for pid in left:  # the shims' children are the containers' processes
            for child in _pids():
                if _read(f"/proc/{child}/stat").rsplit(b")", 1)[-1].split()[1:2] == [str(pid).encode()]:
                    _kill(child)
            _kill(pid)
        for mount in sorted((line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()), reverse=True):
            if mount.startswith(str(self.root)):
                subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        for container in (self.root / "data" / "containers").glob("*"):
            for cgroup in Path("/sys/fs/cgroup").glob(f"*/docker/{container.name}"):
                _remove_cgroup(cgroup)
        shutil.rmtree(self.root)


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def _remove_cgroup(cgroup: Path) -> None:
    """Removable once the killed processes in it are gone."""
    for _ in range(100):
        try:
            cgroup.rmdir()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{cgroup} still holds processes")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
            run._wait(container, time.monotonic())
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
