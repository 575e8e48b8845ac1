"""Structured logs on the running stack: web (gunicorn with labqueue's logger class), producer and consumer write
JSON lines to stdout, and the lines about a job carry its id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.admin_helpers import STRUCTURED_LOGGER, start_gunicorn, wait_for
from tests.conftest import Process, make_user, make_zip


@pytest.fixture(scope="module")
def structured_web(test_env, log_dir, producer) -> Iterator[tuple[Process, str]]:
    process, url = start_gunicorn(test_env, log_dir, "web-structured", STRUCTURED_LOGGER)
    yield process, url
    process.stop()


def json_lines_about(text: str, job_id: str) -> list[dict]:
    """Every line that mentions the job, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in text.splitlines() if job_id in line]


def test_every_service_logs_json_lines_with_the_job_id(structured_web, test_env, producer, python_consumer) -> None:
    web, url = structured_web
    user = make_user(test_env, url)
    job_id = user.submit(make_zip({"code.py": "print('logged')"})).json()["id"]
    assert user.wait(job_id)["status"] == "succeeded"

    access = wait_for(lambda: [e for e in json_lines_about(web.log(), job_id) if e["logger"] == "gunicorn.access"], 10, "access lines")
    assert {(e["method"], e["status"]) for e in access} >= {("GET", 200)}
    assert all(e["service"] == "web" and e["job_id"] == job_id and e["duration_ms"] >= 0 for e in access)
    assert any(e["path"] == "/api/v1/jobs" and e["status"] == 201 for e in map(json.loads, web.log().splitlines()) if e.get("method") == "POST")

    recorded = wait_for(lambda: json_lines_about(producer.log(), job_id), 10, "producer lines")
    assert all(e["service"] == "producer" and e["job_id"] == job_id and e["level"] == "info" for e in recorded)
    assert any(e["message"] == f"job {job_id} is succeeded" for e in recorded)

    consumed = json_lines_about(python_consumer.log(), job_id)
    assert any(e["message"].startswith(f"job {job_id}: container started") for e in consumed)
    assert all(e["service"] == "consumer-python" and e["job_id"] == job_id and e["ts"].endswith("Z") for e in consumed)
