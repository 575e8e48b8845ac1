"""Files in and out of the sandbox without the Docker API's archive copies where they can be spared.

Each put_archive or get_archive re-executes dockerd: some 50 ms of dockerd's CPU, the largest single cost of a short
job. So the project goes in over the container's stdin (an attached stdin costs dockerd next to nothing) and the
sandbox's command unpacks it before the job starts (sandbox.UNPACK_THEN_RUN); and output/ is copied out only when the job touched it.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import docker

from consumer.sandbox import OUTPUT_PATH
from storage.archive import OUTPUT_DIR_MTIME

_DIRECTORY = 1 << 31  # Go's os.ModeDir, as Docker reports a path's mode


def attach_stdin(client: docker.DockerClient, container: Any) -> socket.socket:
    """Attach to the created container's stdin (before it starts, as ``docker run -i`` does)."""
    attached = client.api.attach_socket(container.id, params={"stdin": 1, "stream": 1})
    return getattr(attached, "_sock", attached)  # a SocketIO over Docker's Unix or TCP socket: its socket


def send_input(stdin: socket.socket, chunks: Iterable[bytes]) -> None:
    """Write the tar and close our side: with StdinOnce, Docker then closes the container's stdin and tar ends."""
    try:
        for chunk in chunks:
            stdin.sendall(chunk)
        stdin.shutdown(socket.SHUT_WR)
    finally:
        stdin.close()


def output_untouched(client: docker.DockerClient, container: Any) -> bool:
    """True when output/ is still the empty folder unpacked with the project: its time is OUTPUT_DIR_MTIME until
    anything in it is added, removed or renamed. Docker's stat of a path (HEAD on the archive endpoint, which
    docker-py does not wrap) mounts the container but copies nothing."""
    response = client.api.head(client.api._url("/containers/{0}/archive", container.id), params={"path": OUTPUT_PATH})
    if response.status_code != 200:
        return False
    stat = json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
    modified = datetime.fromisoformat(stat["mtime"])
    return bool(stat["mode"] & _DIRECTORY) and modified == datetime.fromtimestamp(OUTPUT_DIR_MTIME, UTC)
