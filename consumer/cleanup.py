"""Removes what a consumer left behind when it died: containers and volumes labelled with its name."""

from __future__ import annotations

import logging

import docker
import docker.errors

from consumer.sandbox import LABEL_CONSUMER

LOGGER = logging.getLogger(__name__)


def remove_orphans(client: docker.DockerClient, consumer: str) -> int:
    """Force-remove this consumer's containers and volumes; call it before taking jobs, when it runs none."""
    selector = {"label": f"{LABEL_CONSUMER}={consumer}"}
    removed = 0
    for container in client.containers.list(all=True, filters=selector):
        try:
            container.remove(force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    for volume in client.volumes.list(filters=selector):
        try:
            volume.remove(force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    if removed:
        LOGGER.info("removed %d orphaned container(s)/volume(s) of %s", removed, consumer)
    return removed
