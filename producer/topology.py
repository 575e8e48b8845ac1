"""Exchanges and queues, declared idempotently by whoever connects first."""

from __future__ import annotations

from pika.adapters.blocking_connection import BlockingChannel

JOBS_EXCHANGE = "labqueue.jobs"
DEAD_EXCHANGE = "labqueue.dead"
DEAD_QUEUE = "jobs.dead"
EVENTS_EXCHANGE = "labqueue.events"
EVENTS_QUEUE = "events"
# Events the recorder refused (they break the contract): kept for a look, never applied to a job.
EVENTS_DEAD_EXCHANGE = "labqueue.events.dead"
EVENTS_DEAD_QUEUE = "events.dead"
EVENTS_DEAD_MAX = 10000  # a flood of bad events cannot fill the broker; the oldest go first
CONTROL_EXCHANGE = "labqueue.control"
# "Jobs changed up to change number N" (storage.changes) for the web processes' live streams: each web process binds
# one exclusive, auto-deleted queue of its own; a notice nobody hears is lost, and nothing depends on it (streams
# catch up by number).
LIVE_EXCHANGE = "labqueue.live"

QUORUM = {"x-queue-type": "quorum"}


def job_queue(runtime: str) -> str:
    return f"jobs.{runtime}"


def declare_live(channel: BlockingChannel) -> None:
    """The live-updates exchange; durable only so that a publisher never meets a missing exchange (a channel error)."""
    channel.exchange_declare(LIVE_EXCHANGE, "fanout", durable=True)


def declare(channel: BlockingChannel, runtimes: list[str] | tuple[str, ...], delivery_limit: int) -> None:
    """Declare the whole topology: one quorum queue per runtime with a delivery limit and dead-lettering."""
    channel.exchange_declare(JOBS_EXCHANGE, "direct", durable=True)
    channel.exchange_declare(DEAD_EXCHANGE, "fanout", durable=True)
    channel.exchange_declare(EVENTS_EXCHANGE, "fanout", durable=True)
    channel.exchange_declare(CONTROL_EXCHANGE, "fanout", durable=True)
    declare_live(channel)
    channel.queue_declare(DEAD_QUEUE, durable=True, arguments=QUORUM)
    channel.queue_bind(DEAD_QUEUE, DEAD_EXCHANGE)
    channel.queue_declare(EVENTS_QUEUE, durable=True, arguments=QUORUM)
    channel.queue_bind(EVENTS_QUEUE, EVENTS_EXCHANGE)
    channel.exchange_declare(EVENTS_DEAD_EXCHANGE, "fanout", durable=True)
    channel.queue_declare(EVENTS_DEAD_QUEUE, durable=True, arguments={**QUORUM, "x-max-length": EVENTS_DEAD_MAX})
    channel.queue_bind(EVENTS_DEAD_QUEUE, EVENTS_DEAD_EXCHANGE)
    for runtime in runtimes:
        queue = job_queue(runtime)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={**QUORUM, "x-delivery-limit": delivery_limit, "x-dead-letter-exchange": DEAD_EXCHANGE},
        )
        channel.queue_bind(queue, JOBS_EXCHANGE, routing_key=runtime)
