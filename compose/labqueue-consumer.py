#!/opt/labqueue/bin/python
"""``labqueue-consumer ARGS``: ``python -m consumer ARGS`` under a name that outlives its container.

Compose and Swarm give a container its id as host name, and a re-created container a new id; but a consumer
removes what its predecessor of the same name left on the Docker host (consumer/cleanup.py), so the name must
stay. Unless LABQUEUE_CONSUMER_NAME is set, it becomes the Docker host's name plus this container's replica:
``<project>-<service>-<N>`` under Compose, ``<service>.<slot>`` under Swarm (distinct per replica and per machine).
"""

from __future__ import annotations

import os
import socket
import sys

import docker
import docker.errors
import requests


def replica_name(labels: dict[str, str]) -> str | None:
    compose = [labels.get(f"com.docker.compose.{key}") for key in ("project", "service", "container-number")]
    if all(compose):
        return "-".join(compose)
    service = labels.get("com.docker.swarm.service.name", "")
    task = labels.get("com.docker.swarm.task.name", "")
    if service and task.startswith(service + "."):
        return f"{service}.{task.removeprefix(service + '.').split('.')[0]}"
    return None


def stable_name() -> str | None:
    try:
        client = docker.from_env(timeout=30)
        replica = replica_name(client.containers.get(socket.gethostname()).labels)
        return f"{client.info()['Name']}-{replica}" if replica else None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        print(f"labqueue-consumer: no replica name from Docker ({exc}); the consumer names itself", file=sys.stderr)
        return None


def main() -> None:
    if not os.environ.get("LABQUEUE_CONSUMER_NAME"):
        name = stable_name()
        if name:
            os.environ["LABQUEUE_CONSUMER_NAME"] = name
    os.execv(sys.executable, [sys.executable, "-m", "consumer", *sys.argv[1:]])


if __name__ == "__main__":
    main()
