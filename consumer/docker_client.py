"""The consumer's Docker client, with one pool of connections to the daemon's socket.

docker-py's socket adapter keys its connection pools by each request's whole URL and keeps 25 of them: every new
container's URLs (start, wait, logs, stats, archive, delete) open new connections, and each evicted pool is closed.
A job cost about ten connections that dockerd accepted and tore down; with one pool they are reused.
"""

from __future__ import annotations

import docker
from docker.transport import UnixHTTPAdapter
from docker.transport.unixconn import UnixHTTPConnectionPool

POOL_KEY = "http+docker://localhost"
TIMEOUT_SECONDS = 120
CONNECTIONS_PER_SLOT = 4  # a running job holds up to three at once: its wait, its log stream and a stats call


class SharedPoolAdapter(UnixHTTPAdapter):
    """One connection pool for every URL on the socket (the URL's path never changes the connection)."""

    def get_connection(self, url: str, proxies: dict[str, str] | None = None) -> UnixHTTPConnectionPool:
        return super().get_connection(POOL_KEY, proxies)


def docker_client(slots: int) -> docker.DockerClient:
    """A client from the environment (DOCKER_HOST), pooling its socket's connections across jobs."""
    max_pool_size = CONNECTIONS_PER_SLOT * slots + 2
    client = docker.from_env(timeout=TIMEOUT_SECONDS, max_pool_size=max_pool_size)
    api = client.api
    if isinstance(api._custom_adapter, UnixHTTPAdapter):  # a TCP or SSH daemon's adapter pools by host already
        adapter = SharedPoolAdapter(api._custom_adapter.socket_path, TIMEOUT_SECONDS, max_pool_size=max_pool_size)
        api._custom_adapter.close()
        api._custom_adapter = adapter
        api.mount("http+docker://", adapter)
    return client
