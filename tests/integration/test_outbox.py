"""The outbox against the real broker and a real (SQLite) database: the fast path, and the relay's pass that sends
what the fast path left behind and what a freed slot releases, in order, each marked sent once confirmed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pika
import pytest

from producer.config import BrokerConfig
from producer.contract import JobMessage
from producer.outbox import enqueue, publish_new, publish_pending
from producer.publisher import Publisher, connection_parameters
from producer.topology import job_queue
from storage.db import Database
from storage.limits import LimitDefaults
from storage.models import Job, OutboxEntry, User, new_id, utcnow
from storage.states import JobState
from tests.conftest import isolated_env

LIMITS = LimitDefaults(max_queued=100, max_running=1, output_quota_gib=0)
GRACE = timedelta(seconds=5)


@pytest.fixture
def broker_and_db(test_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[BrokerConfig, Database]]:
    with isolated_env(test_env, tmp_path) as env:
        db = Database(env["LABQUEUE_DATABASE_URL"])
        db.upgrade()
        yield BrokerConfig.from_env(env), db


def add_user(db: Database, name: str) -> int:
    with db.session() as session:
        user = User(name=name, password_hash="x")
        session.add(user)
        session.flush()
        return user.id


def submit(db: Database, owner_id: int) -> OutboxEntry:
    """The web's transaction: the job and its outbox entry, held when the owner is at their limit."""
    job_id = new_id()
    with db.session() as session:
        key = f"jobs/{job_id}/input.zip"
        session.add(Job(id=job_id, owner_id=owner_id, project="p", runtime="python", time_limit=60, memory_limit=256, input_size=1,
                        input_sha256="0" * 64, input_key=key, status=JobState.QUEUED.value, reason="waiting for a consumer"))
        return enqueue(session, JobMessage(job_id=job_id, runtime="python", input_key=key, time_limit=60, memory_limit=256), LIMITS)


def queued_job_ids(config: BrokerConfig) -> list[str]:
    """Take every message off the python queue, in order."""
    connection = pika.BlockingConnection(connection_parameters(config))
    try:
        channel = connection.channel()
        ids = []
        while (delivery := channel.basic_get(job_queue("python"), auto_ack=True))[0] is not None:
            ids.append(delivery[1].message_id)
        return ids
    finally:
        connection.close()


def sent(db: Database, entry: OutboxEntry) -> bool:
    with db.session() as session:
        return session.get(OutboxEntry, entry.id).published_at is not None


def test_the_fast_path_sends_a_free_entry_and_leaves_a_held_one(broker_and_db: tuple[BrokerConfig, Database]) -> None:
    config, db = broker_and_db
    publisher = Publisher(config)
    ada = add_user(db, "ada")
    free, held = submit(db, ada), submit(db, ada)  # the limit is one running job
    try:
        assert publish_new(db, publisher, free)
        assert not publish_new(db, publisher, held)
    finally:
        publisher.close()
    assert (sent(db, free), sent(db, held)) == (True, False)
    assert queued_job_ids(config) == [free.job_id]


def test_a_relay_pass_sends_what_was_left_behind_then_what_a_freed_slot_releases(broker_and_db: tuple[BrokerConfig, Database]) -> None:
    config, db = broker_and_db
    publisher = Publisher(config)
    ada, bob = add_user(db, "ada"), add_user(db, "bob")
    ada_first, ada_held, bob_first = submit(db, ada), submit(db, ada), submit(db, bob)  # the fast path missed all three
    with db.session() as session:
        for entry in (ada_first, bob_first):
            session.get(OutboxEntry, entry.id).created_at = utcnow() - 2 * GRACE
    try:
        assert publish_pending(db, publisher, GRACE, LIMITS) == 2  # ada's second job waits for her first
        with db.session() as session:
            session.get(Job, ada_first.job_id).status = JobState.SUCCEEDED.value
        assert publish_pending(db, publisher, GRACE, LIMITS) == 1
        assert publish_pending(db, publisher, GRACE, LIMITS) == 0  # nothing is sent twice
    finally:
        publisher.close()
    assert queued_job_ids(config) == [ada_first.job_id, bob_first.job_id, ada_held.job_id]
    assert all(sent(db, entry) for entry in (ada_first, ada_held, bob_first))
