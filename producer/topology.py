"""Exchanges and queues, declared idempotently by whoever connects first."""

from __future__ import annotations

from pika.adapters.blocking_connection import BlockingChannel

JOBS_EXCHANGE = "labqueue.jobs"
DEAD_EXCHANGE = "labqueue.dead"
DEAD_QUEUE = "jobs.dead"
EVENTS_EXCHANGE = "labqueue.events"
EVENTS_QUEUE = "events"
CONTROL_EXCHANGE = "labqueue.control"

QUORUM = {"x-queue-type": "quorum"}


def job_queue(runtime: str) -> str:
    return f"jobs.{runtime}"


def declare(channel: BlockingChannel, runtimes: list[str] | tuple[str, ...], delivery_limit: int) -> None:
    """Declare the whole topology: one quorum queue per runtime with a delivery limit and dead-lettering."""
    channel.exchange_declare(JOBS_EXCHANGE, "direct", durable=True)
    channel.exchange_declare(DEAD_EXCHANGE, "fanout", durable=True)
    channel.exchange_declare(EVENTS_EXCHANGE, "fanout", durable=True)
    channel.exchange_declare(CONTROL_EXCHANGE, "fanout", durable=True)
    channel.queue_declare(DEAD_QUEUE, durable=True, arguments=QUORUM)
    channel.queue_bind(DEAD_QUEUE, DEAD_EXCHANGE)
    channel.queue_declare(EVENTS_QUEUE, durable=True, arguments=QUORUM)
    channel.queue_bind(EVENTS_QUEUE, EVENTS_EXCHANGE)
    for runtime in runtimes:
        queue = job_queue(runtime)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={**QUORUM, "x-delivery-limit": delivery_limit, "x-dead-letter-exchange": DEAD_EXCHANGE},
        )
        channel.queue_bind(queue, JOBS_EXCHANGE, routing_key=runtime)
