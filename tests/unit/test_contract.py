"""The message contract: round trips, and malformed messages refused with ContractError."""

import json

import pytest

from producer.contract import CancelCommand, ContractError, Heartbeat, JobEvent, JobMessage, decode, encode

JOB_ID = "0123456789abcdef0123456789abcdef"


def test_job_message_round_trip() -> None:
    message = JobMessage(job_id=JOB_ID, runtime="python", input_key=f"jobs/{JOB_ID}/input.zip", time_limit=60, memory_limit=512)
    assert decode(encode(message), JobMessage) == message


def test_disk_limit_travels_and_an_older_sender_without_it_is_understood() -> None:
    message = JobMessage(job_id=JOB_ID, runtime="python", input_key=f"jobs/{JOB_ID}/input.zip", time_limit=60, memory_limit=512, disk_limit=256)
    assert decode(encode(message), JobMessage).disk_limit == 256
    older = {"v": 1, "type": "job", "job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": 1, "memory_limit": 1}
    assert decode(json.dumps(older).encode(), JobMessage).disk_limit is None


def test_heartbeat_says_why_its_consumer_takes_no_job() -> None:
    beat = Heartbeat(consumer="c", runtime="python", host="h", slots=1, busy=0, paused="free disk below the reserve")
    assert decode(encode(beat), Heartbeat).paused == "free disk below the reserve"
    assert decode(encode(Heartbeat(consumer="c", runtime="python", host="h", slots=1, busy=0)), Heartbeat).paused == ""


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
        json.dumps({"v": 1, "type": "job", "job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": 1, "memory_limit": 1, "disk_limit": 0}).encode(),
        json.dumps({"v": 1, "type": "job", "job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": 1, "memory_limit": 1, "disk_limit": True}).encode(),
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
