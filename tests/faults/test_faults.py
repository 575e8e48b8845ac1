"""Nothing lost, nothing run twice: labqueue under the faults a lab server meets, on real (private) servers."""

from __future__ import annotations

import os
import re
import signal
import time

import docker
import pika
import pytest
import requests

from consumer.sandbox import LABEL_CONSUMER
from producer.topology import EVENTS_EXCHANGE, JOBS_EXCHANGE
from storage.objects import input_key
from tests.conftest import ApiUser, leftovers, make_user, make_zip, read_zip
from tests.faults.conftest import FaultStack, store_is_down, wait_all, wait_for

JOBS_UNDER_OUTAGE = int(os.environ.get("LABQUEUE_FAULT_JOBS", "200"))
SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep({seconds})\nprint('done')\n"


def container_starts(stack: FaultStack, job_id: str) -> int:
    """How many times a container was started for the job, over every consumer's log."""
    return len(re.findall(rf"job {job_id}: container started", stack.consumer_log()))


def test_jobs_submitted_while_the_broker_is_down_all_run_exactly_once(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    fault_stack.start_consumer("consumer-a", slots=4)
    project = make_zip({"code.py": "print('hi')"})
    third = JOBS_UNDER_OUTAGE // 3
    job_ids = []
    for _ in range(third):
        job_ids.append(fault_user.submit(project).json()["id"])
    fault_stack.broker.stop()
    for _ in range(third):
        response = fault_user.submit(project)
        assert response.status_code == 201, response.text  # accepted: in the database and the store, published later
        job_ids.append(response.json()["id"])
    fault_stack.broker.start()
    for _ in range(JOBS_UNDER_OUTAGE - 2 * third):
        job_ids.append(fault_user.submit(project).json()["id"])

    jobs = wait_all(fault_user, job_ids, timeout=600)

    assert len(jobs) == JOBS_UNDER_OUTAGE
    assert {job["status"] for job in jobs.values()} == {"succeeded"}
    starts = {job_id: container_starts(fault_stack, job_id) for job_id in job_ids}
    assert set(starts.values()) == {1}, {k: v for k, v in starts.items() if v != 1}


def test_consumer_killed_mid_job_finishes_on_another(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    consumers = {name: fault_stack.start_consumer(name, slots=1) for name in ("consumer-a", "consumer-b")}
    job_id = fault_user.submit(make_zip({"code.py": SLEEPER.format(seconds=6)})).json()["id"]
    running = fault_user.wait(job_id, until={"running"})
    victim = next(name for name in consumers if running["consumer"].endswith(name))

    consumers[victim].stop(signal.SIGKILL)
    job = fault_user.wait(job_id, timeout=120)

    assert job["status"] == "succeeded"
    assert job["attempt"] == 2 and job["consumer"] != running["consumer"]
    assert "done" in fault_user.get(f"/api/v1/jobs/{job_id}/log").text
    # The dead consumer's container is an orphan until a consumer of that name starts again and sweeps it.
    fault_stack.start_consumer(victim, slots=1)
    client = docker.from_env()
    selector = {"label": f"{LABEL_CONSUMER}={running['consumer']}"}
    assert leftovers(client, selector) == []


def test_store_down_during_upload_is_a_clear_503_and_leaves_nothing(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    fault_stack.start_consumer("consumer-a")
    before = fault_user.get("/api/v1/jobs").json()["total"]
    fault_stack.store.stop()

    response = fault_user.submit(make_zip({"code.py": "print('hi')"}))

    assert response.status_code == 503
    assert response.json()["error"] == "storage_unavailable"
    assert fault_user.get("/api/v1/jobs").json()["total"] == before
    fault_stack.store.start()
    again = fault_user.submit(make_zip({"code.py": "print('back')"}))
    assert again.status_code == 201
    assert fault_user.wait(again.json()["id"])["status"] == "succeeded"


def test_consumer_holds_a_job_while_the_store_is_down(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    fault_stack.start_consumer("consumer-a")
    code = "import time, pathlib\ntime.sleep(4)\npathlib.Path('output').mkdir(exist_ok=True)\npathlib.Path('output/r.txt').write_text('kept')\n"
    job_id = fault_user.submit(make_zip({"code.py": code})).json()["id"]
    fault_user.wait(job_id, until={"running"})
    fault_stack.store.stop()
    wait_for(lambda: "storing the output failed" in fault_stack.consumer_log(), 60, "the consumer to meet the outage")
    time.sleep(3)
    fault_stack.store.start()

    job = fault_user.wait(job_id, timeout=120)

    assert (job["status"], job["attempt"]) == ("succeeded", 1)
    assert container_starts(fault_stack, job_id) == 1
    assert read_zip(fault_user.get(f"/api/v1/jobs/{job_id}/output").content) == {"r.txt": b"kept"}


def test_poison_message_is_dead_lettered_and_its_job_ends_system_error(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    job_id = fault_user.submit(make_zip({"code.py": "print('hi')"})).json()["id"]
    fault_stack.object_store().remove(input_key(job_id))  # its input is gone: every delivery fails in the consumer
    connection = pika.BlockingConnection(pika.URLParameters(fault_stack.broker.url))
    channel = connection.channel()
    channel.basic_publish(JOBS_EXCHANGE, "python", b"\x00 not a job message")
    channel.basic_publish(EVENTS_EXCHANGE, "", b'{"v": 1, "type": "job_event", "job_id": "nope"}')
    connection.close()
    fault_stack.start_consumer("consumer-a")

    job = fault_user.wait(job_id, timeout=180)

    assert job["status"] == "system_error"
    assert "deliveries" in job["reason"]
    healthy = fault_user.wait(fault_user.submit(make_zip({"code.py": "print('after')"})).json()["id"])
    assert healthy["status"] == "succeeded"
    assert "dead-lettering malformed job message" in fault_stack.consumer_log()
    assert "is not a job" in fault_stack.processes["producer"].log()
    assert "dead-lettering malformed event" in fault_stack.processes["producer"].log()


@pytest.mark.broker(consumer_timeout_ms=4000, delivery_limit=20)
def test_channel_closed_by_the_broker_mid_job_neither_loses_nor_doubles_it(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    fault_stack.start_consumer("consumer-a")
    job_id = fault_user.submit(make_zip({"code.py": SLEEPER.format(seconds=12)})).json()["id"]

    job = fault_user.wait(job_id, timeout=180)

    assert job["status"] == "succeeded"
    assert "job channel closed by the broker" in fault_stack.consumer_log() or "PRECONDITION_FAILED" in fault_stack.consumer_log()
    assert container_starts(fault_stack, job_id) == 1
    assert job["attempt"] == 1


def test_recorder_restart_loses_no_event(fault_stack: FaultStack, fault_user: ApiUser) -> None:
    fault_stack.start_consumer("consumer-a", slots=4)
    job_ids = [fault_user.submit(make_zip({"code.py": SLEEPER.format(seconds=1)})).json()["id"] for _ in range(12)]
    fault_stack.processes["producer"].stop(signal.SIGKILL)
    time.sleep(4)  # events pile up in the durable events queue meanwhile
    fault_stack.start_producer()

    jobs = wait_all(fault_user, job_ids, timeout=180)

    assert {job["status"] for job in jobs.values()} == {"succeeded"}


def test_health_reports_components_and_recent_consumers(fault_stack: FaultStack) -> None:
    fault_stack.start_consumer("consumer-a")
    health_url = fault_stack.url + "/api/v1/health"
    admin = make_user(fault_stack.env, fault_stack.url, admin=True)
    wait_for(lambda: admin.get("/api/v1/health").json()["consumers"], 40, "a consumer heartbeat")
    report = admin.get("/api/v1/health").json()
    assert report["status"] == "ok"
    assert report["components"] == {"database": "ok", "broker": "ok", "object_store": "ok", "live_updates": "ok", "consumers": "ok"}
    assert report["consumers"][0]["name"].endswith("consumer-a") and report["consumers"][0]["slots"] == 2

    fault_stack.broker.stop()
    down = admin.get("/api/v1/health")
    assert down.status_code == 503 and down.json()["components"]["broker"] == "failing" and down.json()["errors"]["broker"]
    fault_stack.store.stop()
    assert store_is_down(fault_stack.object_store())
    public = requests.get(health_url, timeout=30).json()
    assert public == {"status": "degraded", "components": {**public["components"], "object_store": "failing"}}
