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


def test_the_wire_format_is_unchanged() -> None:
    """Version 1 as the dataclasses wrote it: every field by name, plus v and type."""
    event = JobEvent(job_id=JOB_ID, status="succeeded", at="2026-01-02T03:04:05+00:00", event_id="e" * 32, exit_code=0, wall_seconds=1.5)
    assert json.loads(encode(event)) == {
        "v": 1, "type": "job_event", "job_id": JOB_ID, "status": "succeeded", "reason": "", "consumer": "", "attempt": 0,
        "at": "2026-01-02T03:04:05+00:00", "event_id": "e" * 32, "exit_code": 0, "container_runtime": None, "output_key": None,
        "output_bytes": None, "log_key": None, "wall_seconds": 1.5, "cpu_seconds": None, "peak_memory_bytes": None, "environment": None,
    }
    message = JobMessage(job_id=JOB_ID, runtime="python", input_key="jobs/x", time_limit=60, memory_limit=512, datasets=["d@1"])
    assert json.loads(encode(message)) == {
        "v": 1, "type": "job", "job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": 60, "memory_limit": 512,
        "datasets": ["d@1"], "disk_limit": None,
    }
    assert json.loads(encode(CancelCommand(job_id=JOB_ID))) == {"v": 1, "type": "cancel", "job_id": JOB_ID}


def wire(kind: type, **values: object) -> bytes:
    return json.dumps({"v": 1, "type": kind.TYPE, **values}).encode()


GOOD = {
    JobMessage: {"job_id": JOB_ID, "runtime": "python", "input_key": "jobs/x", "time_limit": 60, "memory_limit": 512},
    JobEvent: {"job_id": JOB_ID, "status": "succeeded"},
    CancelCommand: {"job_id": JOB_ID},
    Heartbeat: {"consumer": "c1", "runtime": "python", "host": "h", "slots": 2, "busy": 0},
}


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (JobEvent, "output_bytes", "lots"),
        (JobEvent, "wall_seconds", [1]),
        (JobEvent, "consumer", 5),
        (JobEvent, "attempt", "2"),
        (JobEvent, "exit_code", 1.5),
        (JobEvent, "cpu_seconds", "fast"),
        (JobEvent, "peak_memory_bytes", True),
        (JobEvent, "output_bytes", -1),
        (JobEvent, "reason", None),
        (JobEvent, "log_key", {"k": 1}),
        (JobEvent, "container_runtime", 3),
        (JobEvent, "output_key", ["jobs/x"]),
        (JobEvent, "status", 7),
        (JobEvent, "event_id", ""),
        (JobMessage, "time_limit", "60"),
        (JobMessage, "memory_limit", 0),
        (JobMessage, "datasets", [1]),
        (JobMessage, "runtime", "py thon"),
        (JobMessage, "disk_limit", "256"),
        (JobMessage, "disk_limit", -1),
        (CancelCommand, "job_id", 5),
        (Heartbeat, "slots", "2"),
        (Heartbeat, "busy", None),
        (Heartbeat, "host", 1),
        (Heartbeat, "paused", 0),
        (Heartbeat, "paused", "x" * 501),
    ],
)
def test_a_wrongly_typed_field_is_refused_by_name(kind: type, field: str, value: object) -> None:
    with pytest.raises(ContractError, match=field):
        decode(wire(kind, **{**GOOD[kind], field: value}), kind)
    assert decode(wire(kind, **GOOD[kind]), kind)  # the same message with the field right is accepted


def test_a_missing_field_is_named() -> None:
    with pytest.raises(ContractError, match="memory_limit"):
        decode(wire(JobMessage, **{k: v for k, v in GOOD[JobMessage].items() if k != "memory_limit"}), JobMessage)
