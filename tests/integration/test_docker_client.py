"""The consumer's Docker client reuses its connections to the daemon whatever the URL (consumer/docker_client.py)."""

from __future__ import annotations

import docker

from consumer.docker_client import docker_client


def open_connections(client: docker.DockerClient) -> int:
    """Connections the client keeps for reuse, over all its pools."""
    pools = client.api._custom_adapter.pools
    # keys(), not iteration: urllib3 refuses to iterate its pool container
    return sum(conn is not None for key in pools.keys() for conn in list(pools[key].pool.queue))  # noqa: SIM118


def test_calls_to_different_urls_share_one_connection() -> None:
    stock, ours = docker.from_env(), docker_client(slots=2)
    for client in (stock, ours):
        client.api.version()
        client.api.info()
        client.api.images()

    assert open_connections(stock) >= 3  # docker-py alone: a pool, and a connection, per URL
    assert open_connections(ours) == 1
