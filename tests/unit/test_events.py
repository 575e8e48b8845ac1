"""The server-sent event stream's own logic on a throwaway SQLite database: what it sends, and that it ends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import Job, User, utcnow
from webapp.events import HEARTBEAT_SECONDS, StreamRequest, job_events
from webapp.services import Services


class Clock:
    """Time that passes only when the stream sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def services(tmp_path: Path) -> Services:
    db = Database(f"sqlite:///{tmp_path / 'events.db'}")
    db.upgrade()
    with db.session() as session:
        session.add_all([User(id=1, name="ada", password_hash="x"), User(id=2, name="bob", password_hash="x")])
    return Services(db=db, store=None, publisher=None, config=None)  # type: ignore[arg-type]


def add_job(services: Services, job_id: str, owner: int, status: str, age: timedelta = timedelta(hours=1)) -> None:
    with services.db.session() as session:
        session.add(
            Job(
                id=job_id, owner_id=owner, project="p", runtime="python", status=status, datasets=[], time_limit=60,
                memory_limit=64, input_size=1, input_sha256="0" * 64, input_key="k", reason=status,
                submitted_at=utcnow() - age,
            )
        )


def set_status(services: Services, job_id: str, status: str) -> None:
    with services.db.session() as session:
        session.get(Job, job_id).status = status


def job_events_of(chunks: list[str]) -> list[tuple[str, str]]:
    found = []
    for chunk in chunks:
        for message in chunk.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line and not line.startswith(":"))
            if lines.get("event") == "job":
                data = json.loads(lines["data"])
                found.append((data["id"], data["status"]))
    return found


def test_sends_unfinished_jobs_then_changes_once_and_ends_at_its_lifetime(services: Services) -> None:
    add_job(services, "a" * 32, 1, "running")
    add_job(services, "b" * 32, 1, "succeeded")
    add_job(services, "c" * 32, 2, "running")
    clock = Clock()
    stream = job_events(services, StreamRequest(user_id=1, lifetime=10), lambda: False, clock, clock.sleep)

    chunks = [next(stream), next(stream)]
    set_status(services, "a" * 32, "succeeded")
    chunks += list(stream)

    assert chunks[0].startswith("retry:")
    assert job_events_of(chunks) == [("a" * 32, "running"), ("a" * 32, "succeeded")]
    assert chunks[-1].startswith("event: bye")
    assert clock.now == pytest.approx(10)


def test_asked_for_jobs_are_sent_but_never_another_users(services: Services) -> None:
    add_job(services, "b" * 32, 1, "succeeded")
    add_job(services, "c" * 32, 2, "running")
    clock = Clock()
    asked = StreamRequest(user_id=1, job_ids={"b" * 32, "c" * 32}, lifetime=3)

    chunks = list(job_events(services, asked, lambda: False, clock, clock.sleep))

    assert job_events_of(chunks) == [("b" * 32, "succeeded")]


def test_a_new_job_that_ends_between_two_looks_is_still_sent(services: Services) -> None:
    clock = Clock()
    stream = job_events(services, StreamRequest(user_id=1, lifetime=3), lambda: False, clock, clock.sleep)
    next(stream)

    add_job(services, "d" * 32, 1, "failed", age=timedelta(0))
    add_job(services, "e" * 32, 2, "failed", age=timedelta(0))

    assert job_events_of(list(stream)) == [("d" * 32, "failed")]


def test_ends_as_soon_as_the_client_is_gone(services: Services) -> None:
    clock = Clock()
    gone = iter([False, False, True])

    chunks = list(job_events(services, StreamRequest(user_id=1), lambda: next(gone), clock, clock.sleep))

    assert clock.now == pytest.approx(2)
    assert chunks[-1].startswith("event: bye")


def test_keeps_quiet_streams_alive_with_comments(services: Services) -> None:
    clock = Clock()
    request = StreamRequest(user_id=1, lifetime=HEARTBEAT_SECONDS * 2 + 1)

    chunks = list(job_events(services, request, lambda: False, clock, clock.sleep))

    assert chunks.count(": keep-alive\n\n") == 2
