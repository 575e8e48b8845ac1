"""The message contract: round trips, and malformed messages refused with ContractError."""

import json

import pytest

from producer.contract import CancelCommand, ContractError, Heartbeat, JobEvent, JobMessage, decode, encode

JOB_ID = "0123456789abcdef0123456789abcdef"


def test_job_message_round_trip() -> None:
    message = JobMessage(job_id=JOB_ID, runtime="python", input_key=f"jobs/{JOB_ID}/input.zip", time_limit=60, memory_limit=512)
    assert decode(encode(message), JobMessage) == message


def test_event_round_trip_keeps_its_id() -> None:
    event = JobEvent(job_id=JOB_ID, status="succeeded", exit_code=0, wall_seconds=1.5)
    again = decode(encode(event), JobEvent)
    assert again == event and again.event_id == event.event_id


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"v": 2, "type": "job"}).encode(),
        json.dumps({"v": 1, "type": "cancel"}).encode(),
        json.dumps({"v": 1, "type": "job", "job_id": "../../etc", "runtime": "python", "input_key": "jobs/x", "time_limit": 1, "memory_limit": 1}).encode(),
        json.dumps({"v": 1, "type": "job", "job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": -5, "memory_limit": 1}).encode(),
        b"\xff\xfe",
    ],
)
def test_malformed_job_messages_are_refused(body: bytes) -> None:
    with pytest.raises(ContractError):
        decode(body, JobMessage)


def test_type_mismatch_is_refused() -> None:
    with pytest.raises(ContractError):
        decode(encode(CancelCommand(job_id=JOB_ID)), Heartbeat)


def test_event_with_bad_time_is_refused() -> None:
    body = json.loads(encode(JobEvent(job_id=JOB_ID, status="running")))
    body["at"] = "yesterday"
    with pytest.raises(ContractError):
        decode(json.dumps(body).encode(), JobEvent)
