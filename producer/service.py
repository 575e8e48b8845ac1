"""The producer service: the outbox relay and the event recorder, each reconnecting on its own."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from datetime import timedelta

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy.orm import Session

from producer.config import BrokerConfig
from producer.contract import ContractError, Heartbeat, JobEvent, JobMessage, decode
from producer.outbox import publish_pending
from producer.publisher import Publisher, connection_parameters
from producer.recorder import apply_event, apply_heartbeat, mark_system_error
from producer.topology import DEAD_QUEUE, EVENTS_DEAD_EXCHANGE, EVENTS_QUEUE, declare
from storage.backoff import Backoff, keep_connected
from storage.db import Database
from storage.limits import LimitDefaults
from storage.states import parse_state

LOGGER = logging.getLogger(__name__)

RELAY_INTERVAL = 1.0
FAST_PATH_GRACE = timedelta(seconds=5)
RELAY_PATIENCE_SECONDS = 60.0  # failing passes for this long (e.g. the database is gone): the relay gives up
BATCH_WINDOW = 0.05  # seconds an event waits for others to share its transaction
REFUSAL_HEADER = "x-labqueue-refused"  # on a dead-lettered event: why the recorder refused it


def run_relay(db: Database, config: BrokerConfig, limits: LimitDefaults, stop: threading.Event, job_ended: threading.Event) -> None:
    """Publish outbox entries the web process could not, and held ones as their owners' slots free up: a pass every
    RELAY_INTERVAL, and at once when the recorder sees a job end (a held job should not wait for the next tick).

    A failed pass is retried; when every pass fails for RELAY_PATIENCE_SECONDS the error is raised (the producer
    then exits, to be restarted)."""
    publisher = Publisher(config)
    failing_since: float | None = None
    try:
        while not stop.is_set():
            job_ended.clear()
            try:
                if count := publish_pending(db, publisher, FAST_PATH_GRACE, limits):
                    LOGGER.info("relay published %d job(s)", count)
                failing_since = None
            except Exception:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > RELAY_PATIENCE_SECONDS:
                    raise
                LOGGER.exception("relay pass failed; retrying")
            job_ended.wait(RELAY_INTERVAL)
    finally:
        publisher.close()


class Recorder:
    """Consumes job events and dead-lettered jobs and writes them into the database.

    Events that arrive together (a job's preparing and running, a busy minute's finals) are recorded in one
    transaction: a commit per event cost the producer more CPU than the events themselves.
    """

    def __init__(self, db: Database, config: BrokerConfig, job_ended: threading.Event) -> None:
        self.db = db
        self.config = config
        self.job_ended = job_ended  # set when a job reached a terminal state: its owner may have held jobs to release
        self.pending: list[tuple[int, bytes]] = []  # (delivery tag, body) of events not recorded yet

    def on_event(self, _channel: BlockingChannel, method: pika.spec.Basic.Deliver, _props: pika.BasicProperties, body: bytes) -> None:
        self.pending.append((method.delivery_tag, body))

    def record_pending(self, channel: BlockingChannel) -> None:
        """Record the pending events in one transaction, then ack them; a failure acks none (they come again).

        An event that breaks the contract is not applied: it goes to the events' dead-letter queue, with the reason.
        """
        batch, self.pending = self.pending, []
        ended = False
        refused: list[tuple[bytes, str]] = []
        with self.db.session() as session:
            for _tag, body in batch:
                try:
                    ended |= _record(session, body)
                except ContractError as exc:
                    refused.append((body, str(exc)))
        for body, reason in refused:
            LOGGER.error("dead-lettering malformed event: %s: %r", reason, body[:200])
            properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, headers={REFUSAL_HEADER: reason[:1000]})
            channel.basic_publish(EVENTS_DEAD_EXCHANGE, "", body, properties, mandatory=True)
        for tag, _body in batch:
            channel.basic_ack(tag)
        if ended:  # committed: the relay now counts one running job less
            self.job_ended.set()

    def on_dead_letter(self, channel: BlockingChannel, method: pika.spec.Basic.Deliver, _props: pika.BasicProperties, body: bytes) -> None:
        try:
            message = decode(body, JobMessage)
        except ContractError as exc:
            LOGGER.error("dead-lettered message is not a job (%s): %r", exc, body[:200])
        else:
            reason = f"gave up after {self.config.delivery_limit} deliveries: the consumers kept failing on it"
            with self.db.session() as session:
                if mark_system_error(session, message.job_id, reason):
                    LOGGER.warning("job %s ended system_error: %s", message.job_id, reason)
        channel.basic_ack(method.delivery_tag)

    def run(self, stop: threading.Event, backoff: Backoff) -> None:
        connection = pika.BlockingConnection(connection_parameters(self.config))
        try:
            channel = connection.channel()
            declare(channel, self.config.runtimes, self.config.delivery_limit)
            channel.confirm_delivery()  # a refused event is acked only once the dead-letter queue holds it
            channel.basic_qos(prefetch_count=100)
            channel.basic_consume(EVENTS_QUEUE, self.on_event)
            channel.basic_consume(DEAD_QUEUE, self.on_dead_letter)
            backoff.reset()
            while not stop.is_set():
                connection.process_data_events(time_limit=1)
                if self.pending:
                    connection.sleep(BATCH_WINDOW)  # events arriving meanwhile join the same transaction
                    self.record_pending(channel)
        finally:
            self.pending = []  # unacked: the broker delivers them again
            if connection.is_open:
                connection.close()


def _record(session: Session, body: bytes) -> bool:
    """Apply one event or heartbeat; True when it ended a job. Raises ContractError for a malformed one."""
    if _peek_type(body) == Heartbeat.TYPE:
        apply_heartbeat(session, decode(body, Heartbeat))
        return False
    event = decode(body, JobEvent)
    if not apply_event(session, event):
        return False
    LOGGER.info("job %s is %s", event.job_id, event.status)
    return parse_state(event.status).is_terminal


def _peek_type(body: bytes) -> str | None:
    try:
        data = json.loads(body)
        return data.get("type") if isinstance(data, dict) else None
    except ValueError:
        return None


def run_recorder(db: Database, config: BrokerConfig, stop: threading.Event, job_ended: threading.Event) -> None:
    """Run the recorder, reconnecting to the broker with capped backoff until ``stop`` is set. A database error is
    raised: the events stay unacknowledged on the broker, and the producer exits to be restarted."""
    recorder = Recorder(db, config, job_ended)
    keep_connected(stop, functools.partial(recorder.run, stop), (pika.exceptions.AMQPError, OSError), "recorder lost the broker", LOGGER)
