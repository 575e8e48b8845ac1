"""A dockerd of a test's own (its own data root, exec root and socket, its own network namespace), never the
machine's: a test may kill it, or find it lacking what the machine's has (the labqueue-disk plugin)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker


class PrivateDockerd:
    """A dockerd (and the containerd it manages) in a session of its own, under a short temporary directory (a unix
    socket's path must fit in 108 bytes)."""

    def __init__(self, without_plugins: bool = False) -> None:
        self.without_plugins = without_plugins
        self.root = Path(tempfile.mkdtemp(prefix="lqdk", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> None:
        # Its own network namespace: a dockerd started with --bridge=none deletes the bridge named docker0 of the
        # namespace it runs in, which would be the host's, and every container on Docker's default network with it.
        dockerd = [
            "dockerd", f"--data-root={self.root / 'data'}", f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}", f"--host={self.url}",
            "--bridge=none", "--iptables=false", "--ip6tables=false",
        ]
        if self.without_plugins:
            # A mount namespace of its own, with an empty plugin folder over the machine's: the machine's plugins
            # (labqueue-disk) are found by every dockerd through their sockets in /run/docker/plugins.
            dockerd = ["sh", "-c", 'mkdir -p /run/docker/plugins && mount -t tmpfs none /run/docker/plugins && exec "$@"', "-", *dockerd]
        args = ["unshare", "--net", *(["--mount"] if self.without_plugins else []), "--", *dockerd]
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
