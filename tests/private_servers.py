"""Servers of a test's own, which it may stop, restart or put on another address than the shared services: a RabbitMQ
node and a SeaweedFS S3 server, each on free ports and a directory of its own, listening on ``host`` only."""

from __future__ import annotations

import abc
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika

from storage.config import StorageConfig
from storage.objects import ObjectStore
from tests.conftest import free_port

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class Server(abc.ABC):
    """A server process in a session of its own, so stopping it stops all its children."""

    name = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.popen: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def command(self) -> tuple[list[str], dict[str, str]]:
        """The server's argv and environment."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """True once the server answers."""

    def start(self, timeout: float = 90) -> None:
        args, env = self.command()
        log = (self.root / f"{self.name}.log").open("ab")
        self.popen = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start; see {self.root / (self.name + '.log')}")
            time.sleep(0.3)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        self._wait_ports_free()

    def _wait_ports_free(self, timeout: float = 60) -> None:
        """The launcher can exit before the server's last process lets go of its ports: a restart would then fail."""
        deadline = time.monotonic() + timeout
        for port in self.listen_ports():
            while subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout.strip():
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} still holds port {port} after stopping")
                time.sleep(0.2)

    @abc.abstractmethod
    def listen_ports(self) -> list[int]:
        """The ports the server listens on."""


class PrivateBroker(Server):
    """A RabbitMQ node on its own ports and data, with a short consumer timeout checked every second."""

    name = "rabbitmq"

    def __init__(self, root: Path, consumer_timeout_ms: int = 3_600_000, host: str = "127.0.0.1") -> None:
        super().__init__(root)
        self.host = host
        self.port, self.dist_port = free_port(), free_port()
        self.password = secrets.token_hex(12)
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {host}:{self.port}\n"
            "default_user = labqueue\n"
            f"default_pass = {self.password}\n"
            "default_vhost = labqueue\n"
            f"consumer_timeout = {consumer_timeout_ms}\n"
        )
        (root / "advanced.config").write_text("[{rabbit, [{channel_tick_interval, 1000}]}].\n")
        (root / "enabled_plugins").write_text("[].\n")

    def listen_ports(self) -> list[int]:
        return [self.port, self.dist_port]

    @property
    def url(self) -> str:
        return f"amqp://labqueue:{self.password}@{self.host}:{self.port}/labqueue"

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = {
            **os.environ,
            "HOME": str(self.root),
            "RABBITMQ_NODENAME": f"lqfault{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        return [RABBITMQ_SERVER], env

    def ready(self) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(self.url + "?socket_timeout=1")).close()
            return True
        except pika.exceptions.AMQPError:
            return False


class PrivateStore(Server):
    """A SeaweedFS S3 server on its own ports and directory."""

    name = "seaweedfs"

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        super().__init__(root)
        self.host = host
        self.ports = {name: free_port() for name in ("s3", "s3grpc", "master", "mastergrpc", "volume", "volumegrpc", "filer", "filergrpc")}
        self.access_key, self.secret_key = secrets.token_hex(8), secrets.token_hex(16)
        identity = {"name": "labqueue", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
        (root / "data").mkdir(exist_ok=True)

    def listen_ports(self) -> list[int]:
        return list(self.ports.values())

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.ports['s3']}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        p = self.ports
        args = [
            str(Path(sys.executable).parent / "weed"), "server", f"-ip={self.host}", f"-ip.bind={self.host}", f"-dir={self.root / 'data'}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['mastergrpc']}", "-master.telemetry=false",
            "-master.electionTimeout=1s", "-master.volumeSizeLimitMB=256",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volumegrpc']}", "-volume.max=20", "-volume.preStopSeconds=1",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filergrpc']}", "-filer.disableHttp",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3grpc']}", f"-s3.config={self.root / 's3.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        return args, {**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}

    def ready(self) -> bool:
        store = ObjectStore(self.config("probe"), timeout=2)
        try:
            store.client.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    def config(self, bucket: str) -> StorageConfig:
        return StorageConfig(database_url="", s3_endpoint=self.endpoint, s3_access_key=self.access_key, s3_secret_key=self.secret_key, s3_bucket=bucket)


def server_settings(broker: PrivateBroker, store: PrivateStore) -> dict[str, str]:
    """What a consumer on another machine is told of the main host's servers (README, "Adding a consumer machine"):
    the broker URL, the object store's endpoint and keys (its bucket is the default, ``labqueue``)."""
    return {
        "LABQUEUE_BROKER_URL": broker.url,
        "LABQUEUE_S3_ENDPOINT": store.endpoint,
        "LABQUEUE_S3_ACCESS_KEY": store.access_key,
        "LABQUEUE_S3_SECRET_KEY": store.secret_key,
    }
