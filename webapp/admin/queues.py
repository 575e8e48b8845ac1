"""Queue depth per runtime, asked of RabbitMQ with a passive declare on a short-lived connection.

The admin page and /metrics must render while the broker is down, so every step has a short timeout and a failure
only leaves the depths unknown (None).
"""

from __future__ import annotations

import logging

import pika
import pika.exceptions

from producer.config import BrokerConfig
from producer.publisher import connection_parameters
from producer.topology import job_queue

LOGGER = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0


def queue_depths(config: BrokerConfig, timeout: float = TIMEOUT_SECONDS) -> dict[str, int | None]:
    """Messages ready (waiting for a consumer) in each runtime's queue; None where the broker did not say."""
    depths: dict[str, int | None] = dict.fromkeys(config.runtimes)
    params = connection_parameters(config, heartbeat=0)
    params.socket_timeout = params.stack_timeout = params.blocked_connection_timeout = timeout
    try:
        connection = pika.BlockingConnection(params)
    except (pika.exceptions.AMQPError, OSError) as exc:
        LOGGER.warning("queue depths unknown: the broker is unreachable (%r)", exc)
        return depths
    try:
        for runtime in config.runtimes:
            channel = connection.channel()
            try:
                depths[runtime] = channel.queue_declare(job_queue(runtime), passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                continue  # no such queue yet: nobody has declared it, so its depth is unknown rather than zero
            channel.close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        LOGGER.warning("queue depths incomplete: %r", exc)
    finally:
        if connection.is_open:
            connection.close()
    return depths
