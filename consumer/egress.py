"""The environment build's only way out: an internal Docker network whose one exit is a forward proxy to the index.

A build runs on an ``internal`` bridge network: Docker gives it no route out. The bridge also gets no IPv4 address
on the host (``inhibit_ipv4``): an internal network's gateway address is otherwise the host itself, reachable with
every port the host listens on. The proxy (Debian's tinyproxy, image ``labqueue/build-proxy``) sits on that network
and on an ordinary one, and lets through CONNECT and GET to the package index's host:port and nothing else. pip
finds it through HTTPS_PROXY/HTTP_PROXY; TLS runs end to end through the tunnel, so the images' CA bundle still
decides whom pip trusts.

Network and proxy are made on the consumer's Docker host (which may be remote, or the consumer may run in compose)
when a build first needs them, and checked before every build; each set of allowed hosts has its own pair, named by
a digest of it, so consumers with different indexes on one Docker host never change each other's.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import docker
import docker.errors
import docker.models.networks

from consumer.config import BuildSettings
from consumer.errors import InfraError

LOGGER = logging.getLogger(__name__)

PROXY_PORT = 8888
LABEL_EGRESS = "labqueue.egress"
LABEL_EGRESS_CONFIG = "labqueue.egress.config"
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressError(ValueError):
    """A package index or allowed host that the proxy cannot be told to allow (the consumer's settings are wrong)."""


@dataclass(frozen=True, order=True)
class Endpoint:
    """One host:port the build may reach through the proxy."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``host``, ``host:port`` or a URL; a URL's scheme gives the default port, else 443."""
        parts = urlsplit(text if "://" in text else f"https://{text}")
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            port = None
        host = (parts.hostname or "").lower()
        if port is None or not _HOST.match(host):
            raise EgressError(f"{text!r} is not a host name or IPv4 address with an optional port the build proxy can allow")
        return cls(host, port)


def allowed_endpoints(build: BuildSettings) -> tuple[Endpoint, ...]:
    """The index's host:port (pip's default index and its file host when none is set) and the admin's extra hosts."""
    if build.pip_index_url:
        hosts = [build.pip_index_url]
    else:
        # pip's own default, so that its host is written nowhere here; imported only when no index is set.
        from pip._internal.models.index import PyPI

        hosts = [PyPI.simple_url, f"https://{PyPI.file_storage_domain}"]
    return tuple(sorted({Endpoint.parse(host) for host in (*hosts, *build.allow_hosts)}))


def proxy_filter(endpoints: tuple[Endpoint, ...]) -> str:
    """tinyproxy's filter (extended regular expressions over the request's URL, FilterURLs On).

    A CONNECT's URL is ``host:port``; a GET's is the absolute URL, allowed only with ``/`` right after host:port so
    that user-info tricks (``http://index:80@elsewhere/``) do not match."""
    lines = []
    for endpoint in endpoints:
        host = endpoint.host.replace(".", r"\.")
        lines.append(f"^{host}:{endpoint.port}$")
        lines.append(f"^http://{host}:{endpoint.port}/")
        if endpoint.port == _DEFAULT_PORTS["http"]:
            lines.append(f"^http://{host}/")
    return "\n".join(lines)


def proxy_config(endpoints: tuple[Endpoint, ...]) -> str:
    """tinyproxy's configuration: deny by default, the filter above, CONNECT only to the allowed ports."""
    lines = [
        f"Port {PROXY_PORT}",
        "Listen 0.0.0.0",
        "Timeout 120",
        "MaxClients 64",
        "LogLevel Notice",
        "DisableViaHeader Yes",
        "FilterURLs On",
        "FilterType ere",
        "FilterDefaultDeny Yes",
        'Filter "/tmp/filter"',
        *sorted({f"ConnectPort {endpoint.port}" for endpoint in endpoints}),
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Egress:
    """What a build needs to use the way out: the network to join and the proxy's URL on it."""

    network: str
    proxy_url: str


class EgressKeeper:
    """Makes the build network and its proxy on the Docker host when missing or stale; idempotent and thread-safe."""

    def __init__(self, client: docker.DockerClient, endpoints: tuple[Endpoint, ...], outside_network: str, image: str) -> None:
        self.client = client
        self.endpoints = tuple(sorted(set(endpoints)))
        self.outside_network = outside_network
        self.image = image
        digest = hashlib.sha256(f"{self.endpoints}\n{outside_network}".encode()).hexdigest()[:12]
        self.digest = digest
        self.network = f"labqueue-build-{digest}"
        self.proxy = f"labqueue-build-proxy-{digest}"
        self._guard = threading.Lock()

    def ensure(self) -> Egress:
        """The network and a running proxy with today's configuration; made or repaired when not so."""
        with self._guard:
            try:
                internal = self._network(self.network, internal=True)
                self._network(self.outside_network, internal=False)
                self._proxy(internal)
            except docker.errors.ImageNotFound as exc:
                raise InfraError(f"the build proxy's image {self.image} is missing on this Docker host (scripts/images.sh build-proxy)") from exc
            except docker.errors.APIError as exc:
                raise InfraError(f"making the build network or its proxy failed: {exc}") from exc
        return Egress(self.network, f"http://{self.proxy}:{PROXY_PORT}")

    def remove(self) -> None:
        """Remove the proxy and the internal network (tests; an admin changing the index leaves the old pair)."""
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL_EGRESS}={self.digest}"}):
            container.remove(force=True)
        for network in self.client.networks.list(filters={"label": f"{LABEL_EGRESS}={self.digest}"}):
            network.remove()

    def _network(self, name: str, internal: bool) -> docker.models.networks.Network:
        try:
            return self.client.networks.get(name)
        except docker.errors.NotFound:
            pass
        options = {"com.docker.network.bridge.inhibit_ipv4": "true"} if internal else None
        try:
            network = self.client.networks.create(
                name, driver="bridge", internal=internal, options=options, labels={LABEL_EGRESS: self.digest} if internal else None
            )
            LOGGER.info("made Docker network %s%s", name, " (internal, no host address)" if internal else "")
            return network
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # another consumer on this Docker host made it first
                raise
            return self.client.networks.get(name)

    def _proxy(self, internal: docker.models.networks.Network) -> None:
        config, filters = proxy_config(self.endpoints), proxy_filter(self.endpoints)
        image_id = self.client.images.get(self.image).id
        version = hashlib.sha256(f"{image_id}\n{config}\n{filters}".encode()).hexdigest()[:16]
        try:
            container = self.client.containers.get(self.proxy)
            if container.labels.get(LABEL_EGRESS_CONFIG) == version and container.status == "running":
                return
            LOGGER.info("replacing the build proxy %s (%s)", self.proxy, container.status)
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        try:
            container = self.client.containers.create(
                self.image,
                name=self.proxy,
                environment={"LABQUEUE_PROXY_CONFIG": config, "LABQUEUE_PROXY_FILTER": filters},
                labels={LABEL_EGRESS: self.digest, LABEL_EGRESS_CONFIG: version},
                network=self.outside_network,
                read_only=True,
                tmpfs={"/tmp": "rw,nosuid,nodev,size=16m"},
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                pids_limit=128,
                mem_limit=128 * 2**20,
                restart_policy={"Name": "unless-stopped"},
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # another consumer on this Docker host is making it
                raise
            return
        internal.connect(container)
        container.start()
        LOGGER.info("started the build proxy %s: %s", self.proxy, ", ".join(f"{e.host}:{e.port}" for e in self.endpoints))
