"""The consumer's AMQP loop: N slots, each job in its own thread, acked only after its final event is confirmed."""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable

import docker
import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from consumer.claim import release_claims
from consumer.cleanup import remove_orphans
from consumer.config import ConsumerConfig
from consumer.datasets import DatasetCache
from consumer.disk import DiskReserve
from consumer.environments import EnvironmentCache
from consumer.errors import InfraError
from consumer.job import JobRun
from producer.config import BrokerConfig
from producer.contract import CancelCommand, ContractError, Heartbeat, JobEvent, JobMessage, decode, encode
from producer.publisher import Publisher, PublishError, connection_parameters
from producer.topology import CONTROL_EXCHANGE, EVENTS_EXCHANGE, declare, job_queue
from storage.backoff import Backoff, keep_connected
from storage.objects import ObjectStore, ObjectStoreError
from storage.runtimes import Runtime

LOGGER = logging.getLogger(__name__)

INFRA_RETRY_DELAY = 5.0


class ConsumerService:
    """Takes jobs of one runtime from its queue and runs up to ``slots`` of them at once."""

    def __init__(
        self,
        config: ConsumerConfig,
        broker: BrokerConfig,
        runtime: Runtime,
        client: docker.DockerClient,
        store: ObjectStore,
    ) -> None:
        self.config = config
        self.broker = broker
        self.runtime = runtime
        self.client = client
        self.store = store
        self.publisher = Publisher(broker)
        self.environments = EnvironmentCache(client, config.env_image_budget_bytes, config.build)
        self.datasets = DatasetCache(client, store, config.dataset_cache_bytes, runtime.image, config.name)
        self.disk = DiskReserve(client, config.name, config.disk_reserve_bytes)
        self.paused = ""  # why no new job is taken now; set by the heartbeat thread, read by the AMQP loop
        self.host = socket.gethostname()  # the Docker host's name once run() has asked it
        self.running: dict[str, threading.Event] = {}
        self._running_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self.shutdown = threading.Event()

    # -- events ------------------------------------------------------------------------------------

    def report(self, event: JobEvent) -> None:
        self.publisher.publish(EVENTS_EXCHANGE, "", encode(event), message_id=event.event_id)

    def _check_disk(self) -> None:
        paused = self.disk.shortfall()
        if paused != self.paused:
            if paused:
                LOGGER.warning("consumer %s takes no new job: %s", self.config.name, paused)
            else:
                LOGGER.info("consumer %s takes jobs again: the Docker host's free disk is back above the reserve", self.config.name)
        self.paused = paused

    def _heartbeats(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.heartbeat_interval):
            self._check_disk()
            beat = Heartbeat(
                consumer=self.config.name,
                runtime=self.runtime.name,
                host=self.host,
                slots=self.config.slots,
                busy=len(self.running),
                paused=self.paused,
            )
            try:
                self.publisher.publish(EVENTS_EXCHANGE, "", encode(beat), message_id=f"hb-{time.time_ns()}")
            except PublishError as exc:
                LOGGER.debug("heartbeat not delivered: %s", exc)

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with capped backoff after broker or store failures.

        On stop, running jobs are killed and their messages go back to the queue for another consumer.
        """
        self.shutdown = stop
        # The host the admin is shown is where jobs run: the Docker host's, not this process's (in a container
        # that is the container's id; against a remote daemon, another machine).
        self.host = self.client.info().get("Name") or self.host
        release_claims(self.store, remove_orphans(self.client, self.config.name), self.config.name)
        self.disk.open()  # DiskUnavailable: no bounded volumes on this Docker host, so no jobs at all
        self._check_disk()
        threading.Thread(target=self._heartbeats, args=(stop,), daemon=True, name="heartbeats").start()
        try:
            keep_connected(
                stop,
                functools.partial(self._consume, stop),
                (pika.exceptions.AMQPError, OSError, ObjectStoreError),
                f"consumer {self.config.name} lost the broker or the object store",
                LOGGER,
            )
        finally:
            self.disk.close()

    def _consume(self, stop: threading.Event, backoff: Backoff) -> None:
        self.store.ping()  # a consumer that cannot store results must not take jobs
        connection = pika.BlockingConnection(connection_parameters(self.broker))
        try:
            channel = connection.channel()
            declare(channel, (self.runtime.name,), self.broker.delivery_limit)
            channel.basic_qos(prefetch_count=self.config.slots)
            control = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(control, CONTROL_EXCHANGE)
            channel.basic_consume(control, self._on_control, auto_ack=True)
            backoff.reset()
            on_job = functools.partial(self._on_job, connection)
            jobs_tag: str | None = None
            while not stop.is_set():
                # Short of disk, stop consuming rather than take deliveries and give them back: a requeue counts
                # against the job's delivery limit on a quorum queue, and another consumer may have the disk.
                if jobs_tag is None and not self.paused:
                    jobs_tag = channel.basic_consume(job_queue(self.runtime.name), on_job)
                    LOGGER.info("consumer %s taking %s jobs with %d slot(s)", self.config.name, self.runtime.name, self.config.slots)
                elif jobs_tag is not None and self.paused:
                    channel.basic_cancel(jobs_tag)
                    jobs_tag = None
                connection.process_data_events(time_limit=1)
                if channel.is_closed:
                    # E.g. the broker's consumer timeout: unacked jobs are redelivered, and their running copies
                    # here keep their claims, so the redelivery waits for their results instead of running twice.
                    raise pika.exceptions.ChannelClosed(0, "job channel closed by the broker")
            if jobs_tag is not None:
                channel.basic_cancel(jobs_tag)
            # Keep serving the connection while running jobs wind down, so their acks and nacks go out.
            while any(worker.is_alive() for worker in self._workers):
                connection.process_data_events(time_limit=0.5)
            connection.process_data_events(time_limit=0)
        finally:
            if connection.is_open:
                connection.close()

    def _on_control(self, _channel: BlockingChannel, _method: pika.spec.Basic.Deliver, _props: pika.BasicProperties, body: bytes) -> None:
        try:
            command = decode(body, CancelCommand)
        except ContractError as exc:
            LOGGER.error("ignoring malformed control message: %s", exc)
            return
        with self._running_lock:
            flag = self.running.get(command.job_id)
        if flag is not None:
            LOGGER.info("cancelling job %s", command.job_id)
            flag.set()

    def _on_job(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        props: pika.BasicProperties,
        body: bytes,
    ) -> None:
        try:
            message = decode(body, JobMessage)
        except ContractError as exc:
            LOGGER.error("dead-lettering malformed job message: %s: %r", exc, body[:200])
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        attempt = int((props.headers or {}).get("x-delivery-count", 0)) + 1
        cancelled = threading.Event()
        with self._running_lock:
            self.running[message.job_id] = cancelled
        settle = functools.partial(self._settle_threadsafe, connection, channel, method.delivery_tag)
        worker = threading.Thread(target=self._work, args=(message, attempt, cancelled, settle), name=f"job-{message.job_id[:8]}")
        self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()

    def _work(self, message: JobMessage, attempt: int, cancelled: threading.Event, settle: Callable[[bool], None]) -> None:
        LOGGER.info("job %s: attempt %d", message.job_id, attempt)
        done = False
        run = JobRun(
            message=message,
            attempt=attempt,
            config=self.config,
            runtime=self.runtime,
            client=self.client,
            store=self.store,
            environments=self.environments,
            datasets=self.datasets,
            report=self.report,
            cancelled=cancelled,
            shutdown=self.shutdown,
        )
        try:
            final = run.run()
            LOGGER.info("job %s: %s (%s)", message.job_id, final.status, final.reason)
            done = True
        except (InfraError, PublishError) as exc:
            LOGGER.error("job %s: infrastructure failure, returning it to the queue: %s", message.job_id, exc)
            self.shutdown.wait(INFRA_RETRY_DELAY)
        except Exception:
            LOGGER.exception("job %s: unexpected failure, returning it to the queue", message.job_id)
            self.shutdown.wait(INFRA_RETRY_DELAY)
        finally:
            with self._running_lock:
                self.running.pop(message.job_id, None)
            settle(done)
            run.clean_up()

    @staticmethod
    def _settle_threadsafe(connection: pika.BlockingConnection, channel: BlockingChannel, tag: int, done: bool) -> None:
        def settle() -> None:
            if not channel.is_open:
                LOGGER.warning("channel closed before delivery %d was settled; the broker will redeliver it", tag)
            elif done:
                channel.basic_ack(tag)
            else:
                channel.basic_nack(tag, requeue=True)

        try:
            connection.add_callback_threadsafe(settle)
        except (pika.exceptions.AMQPError, AttributeError):
            LOGGER.warning("connection gone before delivery %d was settled; the broker will redeliver it", tag)
