"""The event recorder against a real (SQLite) database: idempotent, never backwards, tolerant of disorder."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from producer.config import BrokerConfig
from producer.contract import JobEvent, encode
from producer.recorder import apply_event, mark_system_error
from producer.service import Recorder
from producer.topology import EVENTS_DEAD_EXCHANGE
from storage.db import Database
from storage.models import Job, RecordedEvent, User


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    return database


@pytest.fixture
def job_id(db: Database) -> str:
    with db.session() as session:
        user = User(name="ada", password_hash="x")
        session.add(user)
        session.flush()
        job = Job(owner_id=user.id, project="p", runtime="python", time_limit=60, memory_limit=256, input_size=1, input_sha256="0" * 64, input_key="k")
        session.add(job)
        session.flush()
        return job.id


def status(db: Database, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


def test_events_move_the_job_forward(db: Database, job_id: str) -> None:
    with db.session() as session:
        assert apply_event(session, JobEvent(job_id=job_id, status="preparing", consumer="c1", attempt=1))
        assert apply_event(session, JobEvent(job_id=job_id, status="running", consumer="c1", attempt=1))
        assert apply_event(session, JobEvent(job_id=job_id, status="succeeded", exit_code=0, wall_seconds=2.0))
    job = status(db, job_id)
    assert (job.status, job.exit_code, job.consumer, job.attempt, job.wall_seconds) == ("succeeded", 0, "c1", 1, 2.0)
    assert job.started_at is not None and job.finished_at is not None


def test_duplicates_and_late_events_are_ignored(db: Database, job_id: str) -> None:
    final = JobEvent(job_id=job_id, status="failed", exit_code=2)
    with db.session() as session:
        assert apply_event(session, final)
    with db.session() as session:
        assert not apply_event(session, final)
        assert not apply_event(session, JobEvent(job_id=job_id, status="running"))
        assert not apply_event(session, JobEvent(job_id=job_id, status="succeeded", exit_code=0))
    job = status(db, job_id)
    assert (job.status, job.exit_code) == ("failed", 2)


def test_out_of_order_running_after_final_is_ignored(db: Database, job_id: str) -> None:
    with db.session() as session:
        apply_event(session, JobEvent(job_id=job_id, status="timed_out"))
        apply_event(session, JobEvent(job_id=job_id, status="preparing"))
    assert status(db, job_id).status == "timed_out"


def test_unknown_job_and_unknown_status_are_not_applied(db: Database, job_id: str) -> None:
    with db.session() as session:
        assert not apply_event(session, JobEvent(job_id="f" * 32, status="running"))
        assert not apply_event(session, JobEvent(job_id=job_id, status="exploded"))
    assert status(db, job_id).status == "queued"


def test_system_error_never_overrides_a_final_state(db: Database, job_id: str) -> None:
    with db.session() as session:
        apply_event(session, JobEvent(job_id=job_id, status="succeeded", exit_code=0))
        assert not mark_system_error(session, job_id, "gave up")
    assert status(db, job_id).status == "succeeded"


class AckingChannel:
    """Records acks and publishes (dead-lettered events), as the recorder's channel would send them."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.published: list[tuple[str, bytes]] = []

    def basic_publish(self, exchange: str, _routing_key: str, body: bytes, _properties: object, mandatory: bool) -> None:
        assert mandatory
        self.published.append((exchange, body))

    def basic_ack(self, delivery_tag: int) -> None:
        self.acked.append(delivery_tag)


def recorder_for(db: Database) -> tuple[Recorder, threading.Event, AckingChannel]:
    job_ended = threading.Event()
    return Recorder(db, BrokerConfig.from_env({"LABQUEUE_BROKER_URL": "amqp://127.0.0.1:5672/"}), job_ended), job_ended, AckingChannel()


def test_only_a_recorded_end_wakes_the_relay(db: Database, job_id: str) -> None:
    """A held job waits for its owner's running job to end: the relay is woken by the end, not by other events."""
    recorder, job_ended, channel = recorder_for(db)

    def deliver(tag: int, event: JobEvent) -> bool:
        recorder.on_event(channel, SimpleNamespace(delivery_tag=tag), None, encode(event))  # type: ignore[arg-type]
        recorder.record_pending(channel)  # type: ignore[arg-type]
        woken = job_ended.is_set()
        job_ended.clear()
        return woken

    final = JobEvent(job_id=job_id, status="succeeded", exit_code=0)
    assert not deliver(1, JobEvent(job_id=job_id, status="running", consumer="c1", attempt=1))
    assert deliver(2, final)
    assert status(db, job_id).status == "succeeded"  # committed before the relay looks
    assert not deliver(3, final)  # a duplicate ends nothing
    assert channel.acked == [1, 2, 3]


def test_events_arriving_together_are_recorded_in_one_go(db: Database, job_id: str) -> None:
    """A batch holds a job's steps, a duplicate of one of them and a malformed event: each is handled as if alone."""
    recorder, job_ended, channel = recorder_for(db)
    running = JobEvent(job_id=job_id, status="running", consumer="c1", attempt=1)
    bodies = [
        encode(JobEvent(job_id=job_id, status="preparing", consumer="c1", attempt=1)),
        encode(running),
        encode(running),  # the broker delivered it twice
        b"not json",
        encode(JobEvent(job_id=job_id, status="succeeded", exit_code=0, wall_seconds=1.5)),
    ]
    for tag, body in enumerate(bodies, start=1):
        recorder.on_event(channel, SimpleNamespace(delivery_tag=tag), None, body)  # type: ignore[arg-type]
    assert channel.acked == [] and status(db, job_id).status == "queued"  # nothing is acked before it is recorded
    recorder.record_pending(channel)  # type: ignore[arg-type]
    job = status(db, job_id)
    assert (job.status, job.consumer, job.wall_seconds) == ("succeeded", "c1", 1.5)
    assert job.started_at is not None
    assert channel.acked == [1, 2, 3, 4, 5] and job_ended.is_set()
    assert channel.published == [(EVENTS_DEAD_EXCHANGE, b"not json")]
    with db.session() as session:
        assert session.query(RecordedEvent).count() == 3


def test_a_batch_that_cannot_be_recorded_is_not_acked(db: Database, job_id: str) -> None:
    """The database refuses the batch: nothing is acked, so the broker delivers the events again."""
    recorder, job_ended, channel = recorder_for(db)
    recorder.on_event(channel, SimpleNamespace(delivery_tag=1), None, encode(JobEvent(job_id=job_id, status="succeeded")))  # type: ignore[arg-type]
    with db.session() as session:
        session.execute(text("DROP TABLE job_events"))
    with pytest.raises(OperationalError):
        recorder.record_pending(channel)  # type: ignore[arg-type]
    assert channel.acked == [] and not job_ended.is_set()
