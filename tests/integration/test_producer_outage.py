"""The producer is one service of several threads: when its recorder meets a database error the process exits as a
whole, non-zero (so its supervisor restarts it), never staying up with a dead recorder while the relay and retention
run on."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pika

from producer.contract import JobEvent, encode
from producer.topology import EVENTS_EXCHANGE
from tests.admin_helpers import wait_for
from tests.conftest import Process, isolated_env, labqueue_admin

EXIT_BOUND_SECONDS = 120


def published_to_a_queue(channel: pika.adapters.blocking_connection.BlockingChannel, body: bytes) -> bool:
    """Publish ``body`` as mandatory: False when no queue is bound to take it yet (the broker returns it)."""
    try:
        channel.basic_publish(EVENTS_EXCHANGE, "", body, mandatory=True)
        return True
    except pika.exceptions.UnroutableError:
        return False  # far above the seconds it takes; a producer left half-alive never exits at all


def test_producer_exits_non_zero_when_its_database_breaks(test_env: dict[str, str], log_dir: Path, tmp_path: Path) -> None:
    with isolated_env(test_env, tmp_path) as env:
        migrated = labqueue_admin(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        producer = Process(f"producer-outage-{secrets.token_hex(3)}", [sys.executable, "-m", "producer"], env, log_dir)
        try:
            producer.wait_for_log("producer running")
            # The recorder's table goes (a schema change every open connection sees at its next statement); the
            # relay's and retention's tables stay, so they would run on and keep the process up.
            with contextlib.closing(sqlite3.connect(env["LABQUEUE_DATABASE_URL"].removeprefix("sqlite:///"))) as database:
                database.execute("DROP TABLE job_events")
                database.commit()
            connection = pika.BlockingConnection(pika.URLParameters(env["LABQUEUE_BROKER_URL"]))
            channel = connection.channel()
            channel.confirm_delivery()
            event = JobEvent(job_id=secrets.token_hex(16), status="running", consumer="test")
            # "producer running" may come before the recorder has declared its queue on this fresh vhost: an event
            # published before that is routed nowhere, and the recorder would never meet its broken table.
            wait_for(lambda: published_to_a_queue(channel, encode(event)), 60, "the recorder's events queue")
            connection.close()

            try:
                code = producer.popen.wait(EXIT_BOUND_SECONDS)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the producer is still up with a broken database:\n{producer.log()[-3000:]}") from None

            assert code != 0
            assert "stopping the producer" in producer.log()
        finally:
            producer.stop(timeout=10)
