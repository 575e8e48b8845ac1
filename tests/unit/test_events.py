"""Live streams' own logic on a throwaway SQLite database: numbering, visibility, coalescing, dropping, resuming.

No broker here: the hub's catch-up pass is what a notice from the bus triggers, so it is called directly.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from producer.config import BrokerConfig
from storage import leases
from storage.db import Database
from storage.models import Job, User, utcnow
from webapp.api.events import StreamRequest, first_state, parse_last_event_id
from webapp.live import LiveHub
from webapp.streams import Change, Stream


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'events.db'}")
    database.upgrade()
    with database.session() as session:
        session.add_all([User(id=1, name="ada", password_hash="x"), User(id=2, name="bob", password_hash="x")])
    return database


@pytest.fixture
def hub(db: Database) -> LiveHub:
    return LiveHub(db, store=None, broker=BrokerConfig(url="amqp://unused"), streams_per_user=2)  # type: ignore[arg-type]


def add_job(db: Database, job_id: str, owner: int, status: str, age: timedelta = timedelta(hours=1)) -> None:
    with db.session() as session:
        session.add(
            Job(
                id=job_id, owner_id=owner, project="p", runtime="python", status=status, datasets=[], time_limit=60,
                memory_limit=64, input_size=1, input_sha256="0" * 64, input_key="k", reason=status,
                submitted_at=utcnow() - age,
            )
        )


def set_status(db: Database, job_id: str, status: str) -> None:
    with db.session() as session:
        session.get(Job, job_id).status = status


def job_events_of(text: str) -> list[tuple[int, str, str]]:
    """(event id, job id, status) of every ``job`` event in a piece of an event stream."""
    found = []
    for message in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line and not line.startswith(":"))
        if lines.get("event") == "job":
            data = json.loads(lines["data"])
            found.append((int(lines["id"]), data["id"], data["status"]))
    return found


def change(job_id: str, owner: int, seq: int) -> Change:
    return Change(job_id, owner, seq, terminal=False, data=json.dumps({"id": job_id, "status": f"s{seq}"}))


def test_every_committed_job_change_takes_the_next_number(db: Database) -> None:
    add_job(db, "a" * 32, 1, "queued")
    add_job(db, "b" * 32, 1, "queued")
    set_status(db, "a" * 32, "running")

    with db.session() as session:
        numbers = {job.id: job.change_seq for job in session.query(Job)}

    assert numbers == {"a" * 32: 3, "b" * 32: 2}


def test_a_stream_keeps_only_the_newest_state_of_each_job_in_change_order() -> None:
    stream = Stream(user_id=1, is_admin=False)
    for offered in (change("a" * 32, 1, 1), change("b" * 32, 1, 2), change("a" * 32, 1, 3)):
        stream.offer(offered)

    assert [(seq, job) for seq, job, _ in job_events_of(stream.take())] == [(2, "b" * 32), (3, "a" * 32)]
    assert stream.floor == 3
    assert stream.take() == ""


def test_a_stream_never_queues_another_users_job_but_an_admins_does() -> None:
    researcher, admin = Stream(user_id=1, is_admin=False), Stream(user_id=9, is_admin=True)
    for stream in (researcher, admin):
        stream.offer(change("c" * 32, 2, 1))

    assert researcher.take() == ""
    assert [job for _, job, _ in job_events_of(admin.take())] == ["c" * 32]


def test_a_stream_too_far_behind_is_dropped_not_grown() -> None:
    stream = Stream(user_id=1, is_admin=False, max_pending=2)
    for seq, job_id in enumerate(("a" * 32, "b" * 32, "c" * 32), start=1):
        stream.offer(change(job_id, 1, seq))

    assert stream.dropped is not None


def test_the_hub_offers_each_change_to_the_streams_that_may_see_it(db: Database, hub: LiveHub) -> None:
    mine, theirs = Stream(user_id=1, is_admin=False), Stream(user_id=2, is_admin=False)
    hub.open(mine)
    hub.open(theirs)
    add_job(db, "a" * 32, 1, "running")
    set_status(db, "a" * 32, "succeeded")

    hub._catch_up()

    assert [(job, status) for _, job, status in job_events_of(mine.take())] == [("a" * 32, "succeeded")]
    assert theirs.take() == ""


def test_a_stream_resumed_after_an_id_gets_every_job_changed_since(db: Database, hub: LiveHub) -> None:
    add_job(db, "a" * 32, 1, "succeeded")  # change 1: seen before the reconnect
    add_job(db, "b" * 32, 1, "failed")  # change 2: missed
    add_job(db, "c" * 32, 2, "failed")  # change 3: another user's
    stream = Stream(user_id=1, is_admin=False)
    hub.open(stream)

    text = first_state(db, None, stream, StreamRequest(last_event_id=1))  # type: ignore[arg-type]

    assert [job for _, job, _ in job_events_of(text)] == ["b" * 32]


def test_a_last_event_id_that_is_not_a_change_number_reads_as_none() -> None:
    assert [parse_last_event_id(value) for value in ("12", " 7 ", "x1", "", None, "9" * 40)] == [12, 7, None, None, None, None]


def test_the_stream_cap_counts_leases_and_frees_a_released_one(db: Database) -> None:
    with db.session() as session:
        first = leases.acquire(session, 1, "web:1", cap=2)
        second = leases.acquire(session, 1, "web:2", cap=2)
        assert leases.acquire(session, 1, "web:1", cap=2) is None
        assert leases.acquire(session, 2, "web:1", cap=2) is not None
        assert first is not None and second is not None
        leases.release(session, first)
        assert leases.acquire(session, 1, "web:1", cap=2) is not None
