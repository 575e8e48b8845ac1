"""Announces committed job changes on the live-updates exchange, from a thread of its own.

Whoever commits a job change (the recorder, the relay, a web process) only records the newest change number here;
this thread sends "changed up to N" to the web processes. Nothing waits for it: a broker that is down or blocks
publishers delays the notices (streams catch up by number once one arrives, or at their process' next pass), never
the recording.
"""

from __future__ import annotations

import json
import logging
import threading

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from producer.config import BrokerConfig
from producer.publisher import connection_parameters
from producer.topology import LIVE_EXCHANGE, declare_live

LOGGER = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
NOTICE = pika.BasicProperties(content_type="application/json", app_id="labqueue", delivery_mode=pika.DeliveryMode.Transient)


class ChangeAnnouncer:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self._latest = 0
        self._sent = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._thread: threading.Thread | None = None

    def changed(self, seq: int) -> None:
        """A database change listener: jobs changed up to ``seq`` are committed."""
        with self._lock:
            self._latest = max(self._latest, seq)
        self._wake.set()

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self.run, args=(stop,), name="announcer", daemon=True)
        self._thread.start()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                with self._lock:
                    latest = self._latest
                if latest > self._sent and not self._send(latest):
                    stop.wait(RETRY_SECONDS)
        finally:
            self._drop()

    def _send(self, seq: int) -> bool:
        try:
            self._ready_channel().basic_publish(LIVE_EXCHANGE, "", json.dumps({"seq": seq}).encode(), NOTICE)
        except (pika.exceptions.AMQPError, OSError) as exc:
            LOGGER.warning("live-update notice %d not sent (%r); retrying in %.0f s", seq, exc, RETRY_SECONDS)
            self._drop()
            return False
        self._sent = seq
        return True

    def _ready_channel(self) -> BlockingChannel:
        """The live-updates channel, connecting first when there is none or its connection is gone."""
        if self._connection is None or self._connection.is_closed or self._channel is None:
            # No heartbeats: idle between notices, rebuilt when the broker dropped it.
            self._connection = pika.BlockingConnection(connection_parameters(self.config, heartbeat=0))
            self._channel = self._connection.channel()
            declare_live(self._channel)
        return self._channel

    def _drop(self) -> None:
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except (pika.exceptions.AMQPError, OSError):
                LOGGER.debug("closing a broken connection failed", exc_info=True)
        self._connection = None
        self._channel = None
