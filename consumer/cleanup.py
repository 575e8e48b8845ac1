"""Removes what a consumer left behind when it died: containers and volumes labelled with its name."""

from __future__ import annotations

import logging

import docker
import docker.errors

from consumer.sandbox import LABEL_CONSUMER, LABEL_JOB

LOGGER = logging.getLogger(__name__)


def remove_job_leftovers(client: docker.DockerClient, job_id: str) -> None:
    """Remove containers of earlier attempts of a job on this Docker host: nobody runs them any more (its claim went
    stale or was released), so they only hold resources."""
    _remove_labelled(client, {"label": f"{LABEL_JOB}={job_id}"})


def _remove_labelled(client: docker.DockerClient, selector: dict[str, str]) -> tuple[int, set[str]]:
    removed, jobs = 0, set()
    for container in client.containers.list(all=True, filters=selector):
        try:
            container.remove(force=True)
            removed += 1
            jobs.add(container.labels.get(LABEL_JOB, ""))
        except docker.errors.NotFound:
            pass
    for volume in client.volumes.list(filters=selector):
        try:
            volume.remove(force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
    return removed, jobs - {""}


def remove_orphans(client: docker.DockerClient, consumer: str) -> set[str]:
    """Force-remove this consumer's containers and volumes; call it before taking jobs, when it runs none.

    Returns the ids of the jobs whose containers were removed.
    """
    removed, jobs = _remove_labelled(client, {"label": f"{LABEL_CONSUMER}={consumer}"})
    if removed:
        LOGGER.info("removed %d orphaned container(s)/volume(s) of %s", removed, consumer)
    return jobs
