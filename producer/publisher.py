"""Publishing with confirms: a message counts as sent only once the broker has taken responsibility for it."""

from __future__ import annotations

import logging
import threading
import time

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from producer.config import BrokerConfig
from producer.topology import declare

LOGGER = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not confirm the message (down, unreachable, refused or unroutable)."""


def connection_parameters(config: BrokerConfig, heartbeat: int | None = None) -> pika.URLParameters:
    params = pika.URLParameters(config.url)
    params.heartbeat = config.heartbeat if heartbeat is None else heartbeat
    params.blocked_connection_timeout = 30
    params.socket_timeout = config.connect_timeout
    params.connection_attempts = 1
    return params


class Publisher:
    """A confirmed publisher on its own connection, safe to share between threads; reconnects on demand.

    After a failed connection it fails fast for ``cooldown`` seconds, so a web request never waits on a dead broker
    (the outbox relay publishes what was refused).
    """

    def __init__(self, config: BrokerConfig, cooldown: float = 0.0) -> None:
        self.config = config
        self.cooldown = cooldown
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def _ready_channel(self) -> BlockingChannel:
        """The confirming channel, connecting first when there is none or its connection is gone."""
        if self._connection is None or self._connection.is_closed or self._channel is None:
            return self._connect()
        return self._channel

    def _connect(self) -> BlockingChannel:
        if time.monotonic() < self._down_until:
            raise pika.exceptions.AMQPConnectionError("broker marked down; retrying after the cool-down")
        try:
            return self._open()
        except (pika.exceptions.AMQPError, OSError):
            self._down_until = time.monotonic() + self.cooldown
            raise

    def _open(self) -> BlockingChannel:
        # No heartbeats: this connection is idle between publishes and is rebuilt if the broker dropped it.
        self._connection = pika.BlockingConnection(connection_parameters(self.config, heartbeat=0))
        channel = self._connection.channel()
        channel.confirm_delivery()
        declare(channel, self.config.runtimes, self.config.delivery_limit)
        self._channel = channel
        return channel

    def publish(self, exchange: str, routing_key: str, body: bytes, message_id: str, headers: dict | None = None) -> None:
        """Publish a persistent message and wait for the broker's confirm; raise PublishError otherwise."""
        properties = pika.BasicProperties(
            content_type="application/json",
            app_id="labqueue",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message_id,
            headers=headers or {},
        )
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._ready_channel().basic_publish(exchange, routing_key, body, properties, mandatory=True)
                    return
                except pika.exceptions.UnroutableError as exc:
                    raise PublishError(f"no queue takes {exchange}/{routing_key}") from exc
                except pika.exceptions.NackError as exc:
                    raise PublishError(f"broker refused message {message_id}") from exc
                except (pika.exceptions.AMQPError, OSError) as exc:
                    self._drop()
                    if attempt == 2:
                        raise PublishError(f"broker unreachable: {exc!r}") from exc
                    LOGGER.info("publish failed (%r), reconnecting once", exc)

    def ping(self) -> None:
        """Raise PublishError unless the broker can be reached."""
        with self._lock:
            try:
                self._ready_channel().connection.process_data_events(time_limit=0)
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._drop()
                raise PublishError(f"broker unreachable: {exc!r}") from exc

    def _drop(self) -> None:
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except (pika.exceptions.AMQPError, OSError):
                LOGGER.debug("closing a broken connection failed", exc_info=True)
        self._connection = None
        self._channel = None

    def close(self) -> None:
        with self._lock:
            self._drop()
