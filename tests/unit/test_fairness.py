"""Holding and releasing jobs against a real (SQLite) database: held past the running limit, released round-robin
across users and oldest first per user, only into free slots."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.contract import JobMessage
from producer.fairness import release_held, round_robin
from producer.outbox import enqueue
from storage.db import Database
from storage.limits import LimitDefaults, over
from storage.models import Job, OutboxEntry, User, new_id
from storage.states import JobState

DEFAULTS = LimitDefaults(max_queued=100, max_running=2, output_quota_gib=0)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'test.db'}")
    database.upgrade()
    return database


def add_user(db: Database, name: str, max_running: int | None = None) -> int:
    with db.session() as session:
        user = User(name=name, password_hash="x", max_running=max_running)
        session.add(user)
        session.flush()
        return user.id


def submit(db: Database, owner_id: int) -> tuple[str, OutboxEntry]:
    """What the web does: the job and its outbox entry in one transaction."""
    job_id = new_id()
    with db.session() as session:
        session.add(Job(id=job_id, owner_id=owner_id, project="p", runtime="python", time_limit=60, memory_limit=256,
                        input_size=1, input_sha256="0" * 64, input_key=f"jobs/{job_id}/input.zip", reason="waiting for a consumer"))
        message = JobMessage(job_id=job_id, runtime="python", input_key=f"jobs/{job_id}/input.zip", time_limit=60, memory_limit=256)
        return job_id, enqueue(session, message, DEFAULTS)


def finish(db: Database, job_id: str) -> None:
    with db.session() as session:
        session.get(Job, job_id).status = JobState.SUCCEEDED.value


def owner_of_entries(db: Database, entry_ids: list[int]) -> list[str]:
    with db.session() as session:
        return [session.get(OutboxEntry, entry_id).job_id for entry_id in entry_ids]


def test_jobs_past_the_running_limit_are_held_with_a_reason(db: Database) -> None:
    ada = add_user(db, "ada")
    submitted = [submit(db, ada) for _ in range(4)]

    assert [entry.held for _, entry in submitted] == [False, False, True, True]
    with db.session() as session:
        reasons = [session.get(Job, job_id).reason for job_id, _ in submitted]
    assert reasons[2:] == ["held: 2 of your jobs are running (limit 2)"] * 2
    assert release_held(db, DEFAULTS) == []  # no slot is free yet


def test_held_jobs_are_released_round_robin_oldest_first_into_free_slots(db: Database) -> None:
    ada, bob, cy = add_user(db, "ada"), add_user(db, "bob", max_running=1), add_user(db, "cy", max_running=0)
    ada_jobs = [submit(db, ada)[0] for _ in range(5)]  # 2 released, 3 held
    bob_jobs = [submit(db, bob)[0] for _ in range(3)]  # 1 released, 2 held
    cy_jobs = [submit(db, cy)[0] for _ in range(3)]  # no limit: none held
    for job_id in (*ada_jobs[:2], bob_jobs[0]):
        finish(db, job_id)

    released = owner_of_entries(db, release_held(db, DEFAULTS))

    assert released == [ada_jobs[2], bob_jobs[1], ada_jobs[3]]
    assert release_held(db, DEFAULTS) == []
    with db.session() as session:
        assert session.get(Job, ada_jobs[2]).reason == "waiting for a consumer"
        assert [e.held for e in session.query(OutboxEntry).filter(OutboxEntry.job_id.in_(cy_jobs))] == [False] * 3


def test_a_cancelled_held_job_is_never_released(db: Database) -> None:
    ada = add_user(db, "ada", max_running=1)
    first, held = submit(db, ada)[0], submit(db, ada)[0]
    with db.session() as session:
        session.get(Job, held).status = JobState.CANCELLED.value
    finish(db, first)

    assert release_held(db, DEFAULTS) == []


def test_round_robin_and_limits() -> None:
    assert round_robin([[1, 2, 3], [7], [8, 9]]) == [1, 7, 8, 2, 9, 3]
    assert round_robin([]) == []
    assert over(2, 2) and not over(1, 2) and not over(10**6, 0)
