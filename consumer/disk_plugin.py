"""A Docker volume plugin whose every volume is a filesystem of its own, of a fixed size: a job's /job.

Docker's own ``local`` driver caps a volume (``--opt size=``) only with XFS project quotas, and kernels built
without quota support (CONFIG_XFS_QUOTA, CONFIG_QFMT_V2 unset, as on some cloud kernels) have none. Here each
volume is a sparse image file with an ext4 filesystem, loop-mounted: writing past its size fails with ENOSPC
inside the job, as on a full disk, and the host's disk only ever holds what was written.

It runs on the Docker host as root (scripts/docker.sh starts it) and answers Docker's volume plugin protocol on
``/run/docker/plugins/labqueue-disk.sock``; consumers, local or remote, name the driver and a size through the
Docker API and never touch the host's filesystem. Each volume's ``Status`` tells the free disk of the filesystem
holding the images, which is how a consumer elsewhere sees that its Docker host is running out of disk.

Standard library only: it runs with the system's python3, before and apart from labqueue's virtualenv.
Usage: python3 consumer/disk_plugin.py [--root DIR] [--socket PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger("labqueue-disk")

DRIVER = "labqueue-disk"
SOCKET = Path("/run/docker/plugins") / f"{DRIVER}.sock"
ROOT = Path("/var/lib/labqueue-disk")
IMAGE = "disk.img"
MOUNT = "mnt"
STATUS_FREE = "host_free_bytes"  # in each volume's Status: free bytes where the images live
CONTENT_TYPE = "application/vnd.docker.plugins.v1+json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
SIZE = re.compile(r"([1-9][0-9]*)([kmg]?)", re.IGNORECASE)
UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MIN_BYTES = 8 * 2**20  # ext4 needs a few MiB for itself
# No journal (a job's scratch space is thrown away, never recovered), no reserved blocks (the job may fill it all),
# and inode tables left unwritten: the sparse image reads as zeros, so they need no initialising (noinit_itable).
MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal")
MKFS_EXTENDED = "lazy_itable_init=1,nodiscard"
MOUNT_OPTIONS = "loop,nosuid,nodev,noinit_itable"


class PluginError(Exception):
    """Refused or failed; the message goes back to Docker, which shows it to whoever asked."""


def parse_size(text: str) -> int:
    match = SIZE.fullmatch(text.strip())
    if match is None:
        raise PluginError(f"size must be a whole number with an optional k, m or g suffix, not {text!r}")
    size = int(match.group(1)) * UNITS[match.group(2).lower()]
    if size < MIN_BYTES:
        raise PluginError(f"size must be at least {MIN_BYTES // 2**20}m")
    return size


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PluginError(f"{command[0]} failed: {(result.stderr or result.stdout).strip()}")


class Volumes:
    """The volumes under ``root``, one directory each: the image file and the mount point."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()  # creation and removal are rare and fast: one at a time keeps them simple

    def _dir(self, name: str) -> Path:
        if NAME.fullmatch(name or "") is None:
            raise PluginError(f"bad volume name {name!r}")
        return self.root / name

    def mountpoint(self, name: str) -> Path:
        return self._dir(name) / MOUNT

    def exists(self, name: str) -> bool:
        return (self._dir(name) / IMAGE).is_file()

    def names(self) -> list[str]:
        return sorted(path.parent.name for path in self.root.glob(f"*/{IMAGE}"))

    def free_bytes(self) -> int:
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    def create(self, name: str, options: dict[str, str]) -> None:
        unknown = set(options) - {"size", "uid", "gid"}
        if unknown:
            raise PluginError(f"unknown option(s) {', '.join(sorted(unknown))}; this driver takes size, uid and gid")
        if "size" not in options:
            raise PluginError("a size is required (e.g. --opt size=4096m): the point of this driver is the bound")
        size = parse_size(options["size"])
        owner = f"{int(options.get('uid', 0))}:{int(options.get('gid', 0))}"
        directory = self._dir(name)
        with self._lock:
            if (directory / IMAGE).is_file():
                return  # Docker asks again for a volume it has: same name, same volume
            staging = self.root / f".{name}.new"
            shutil.rmtree(staging, ignore_errors=True)
            (staging / MOUNT).mkdir(parents=True)
            try:
                with open(staging / IMAGE, "wb") as image:
                    image.truncate(size)
                _run(*MKFS, "-E", f"{MKFS_EXTENDED},root_owner={owner}", str(staging / IMAGE))
                staging.rename(directory)
            except (OSError, PluginError):
                shutil.rmtree(staging, ignore_errors=True)
                raise
            try:
                self.ensure_mounted(name)
            except PluginError:
                shutil.rmtree(directory, ignore_errors=True)
                raise
        LOGGER.info("created %s (%d MiB)", name, size // 2**20)

    def ensure_mounted(self, name: str) -> Path:
        if not self.exists(name):
            raise PluginError(f"no such volume {name!r}")
        mountpoint = self.mountpoint(name)
        if not os.path.ismount(mountpoint):
            _run("mount", "-o", MOUNT_OPTIONS, str(self._dir(name) / IMAGE), str(mountpoint))
            lost_found = mountpoint / "lost+found"
            if lost_found.is_dir():
                lost_found.rmdir()  # the job sees an empty /job; nothing ever checks this filesystem
        return mountpoint

    def remove(self, name: str) -> None:
        directory = self._dir(name)
        with self._lock:
            mountpoint = directory / MOUNT
            if os.path.ismount(mountpoint):
                _run("umount", str(mountpoint))  # the loop device goes with it (mount -o loop sets autoclear)
            shutil.rmtree(directory, ignore_errors=True)
        LOGGER.info("removed %s", name)

    def remount_all(self) -> None:
        """After a reboot the images are there and their mounts are not."""
        for name in self.names():
            try:
                self.ensure_mounted(name)
            except PluginError as exc:
                LOGGER.error("volume %s not mounted: %s", name, exc)


class Handler(BaseHTTPRequestHandler):
    """One request of Docker's volume plugin protocol: POST /VolumeDriver.<Call> with a JSON body, a JSON answer."""

    server: PluginServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
            answer = self.server.answer(self.path.lstrip("/"), request if isinstance(request, dict) else {})
        except (PluginError, OSError, ValueError) as exc:
            LOGGER.warning("%s: %s", self.path, exc)
            answer = {"Err": str(exc)}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self) -> str:  # a Unix socket's peer has no address
        return "docker"

    def log_message(self, format: str, *args: Any) -> None:
        LOGGER.debug(format, *args)


class PluginServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path: Path, volumes: Volumes) -> None:
        self.volumes = volumes
        super().__init__(str(socket_path), Handler)

    def answer(self, call: str, request: dict[str, Any]) -> dict[str, Any]:
        volumes, name = self.volumes, str(request.get("Name", ""))
        if call == "Plugin.Activate":
            return {"Implements": ["VolumeDriver"]}
        if call == "VolumeDriver.Capabilities":
            return {"Capabilities": {"Scope": "local"}}
        if call == "VolumeDriver.Create":
            volumes.create(name, {str(k): str(v) for k, v in (request.get("Opts") or {}).items()})
            return {"Err": ""}
        if call == "VolumeDriver.Remove":
            volumes.remove(name)
            return {"Err": ""}
        if call == "VolumeDriver.Mount":
            return {"Mountpoint": str(volumes.ensure_mounted(name)), "Err": ""}
        if call == "VolumeDriver.Unmount":
            return {"Err": ""}  # mounted from creation to removal: a container's stop changes nothing
        if call == "VolumeDriver.Path":
            return {"Mountpoint": str(volumes.mountpoint(name)), "Err": ""}
        if call == "VolumeDriver.Get":
            if not volumes.exists(name):
                raise PluginError(f"no such volume {name!r}")
            volume = {"Name": name, "Mountpoint": str(volumes.mountpoint(name)), "Status": {STATUS_FREE: volumes.free_bytes()}}
            return {"Volume": volume, "Err": ""}
        if call == "VolumeDriver.List":
            return {"Volumes": [{"Name": n, "Mountpoint": str(volumes.mountpoint(n))} for n in volumes.names()], "Err": ""}
        raise PluginError(f"unsupported call {call}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help=f"where the volumes' images live (default {ROOT})")
    parser.add_argument("--socket", type=Path, default=SOCKET, help=f"the socket Docker finds it by (default {SOCKET})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.root.mkdir(parents=True, exist_ok=True)
    args.socket.parent.mkdir(parents=True, exist_ok=True)
    volumes = Volumes(args.root)
    volumes.remount_all()
    args.socket.unlink(missing_ok=True)
    with PluginServer(args.socket, volumes) as server:
        LOGGER.info("serving %s volumes from %s on %s", DRIVER, args.root, args.socket)
        server.serve_forever()


if __name__ == "__main__":
    main()
