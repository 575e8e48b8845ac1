"""An event that breaks the contract, through the real broker and recorder: it is dead-lettered with the reason and
never reaches the job's row; the recorder goes on with the next event."""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import pika

from producer.contract import JobEvent, encode
from producer.service import REFUSAL_HEADER
from producer.topology import EVENTS_DEAD_QUEUE, EVENTS_EXCHANGE
from storage.db import Database
from storage.models import Job, User
from tests.conftest import Process, isolated_env, labqueue_admin


def add_job(db: Database) -> str:
    with db.session() as session:
        user = User(name=f"ada-{secrets.token_hex(3)}", password_hash="x")
        session.add(user)
        session.flush()
        job = Job(owner_id=user.id, project="p", runtime="python", time_limit=60, memory_limit=256, input_size=1, input_sha256="0" * 64, input_key="k")
        session.add(job)
        session.flush()
        return job.id


def job_row(db: Database, job_id: str) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job


def test_a_wrongly_typed_event_is_dead_lettered_and_the_job_is_unchanged(test_env: dict[str, str], log_dir: Path, tmp_path: Path) -> None:
    with isolated_env(test_env, tmp_path) as env:
        assert labqueue_admin(env, "migrate").returncode == 0
        db = Database(env["LABQUEUE_DATABASE_URL"])
        job_id = add_job(db)
        producer = Process(f"producer-contract-{secrets.token_hex(3)}", [sys.executable, "-m", "producer"], env, log_dir)
        connection = None
        try:
            producer.wait_for_log("producer running")
            final = json.loads(encode(JobEvent(job_id=job_id, status="succeeded", exit_code=0)))
            bad = json.dumps({**final, "output_bytes": "lots", "wall_seconds": [1], "consumer": 5}).encode()
            connection = pika.BlockingConnection(pika.URLParameters(env["LABQUEUE_BROKER_URL"]))
            channel = connection.channel()
            channel.basic_publish(EVENTS_EXCHANGE, "", bad)
            channel.basic_publish(EVENTS_EXCHANGE, "", encode(JobEvent(job_id=job_id, status="running", consumer="c1", attempt=1)))

            deadline = time.monotonic() + 60
            while job_row(db, job_id).status != "running":
                assert time.monotonic() < deadline, f"the recorder did not record the good event:\n{producer.log()[-3000:]}"
                time.sleep(0.2)
            _method, properties, body = channel.basic_get(EVENTS_DEAD_QUEUE, auto_ack=True)

            job = job_row(db, job_id)
            assert (job.status, job.consumer, job.output_bytes, job.wall_seconds, job.exit_code) == ("running", "c1", None, None, None)
            assert body == bad
            reason = properties.headers[REFUSAL_HEADER]
            assert all(name in reason for name in ("output_bytes", "wall_seconds", "consumer")), reason
            assert channel.basic_get(EVENTS_DEAD_QUEUE)[0] is None  # the good event was not dead-lettered
        finally:
            if connection is not None:
                connection.close()
            producer.stop()
            db.engine.dispose()
