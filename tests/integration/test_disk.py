"""A job's disk: the disk_limit a submission asks for (bounded by the server's maximum, carried in the job's JSON),
and a consumer whose Docker host is short of free disk takes no job, says why in health and on the admin page, and
takes it once the reserve is kept. The bound itself is proven under both container runtimes in test_sandbox.py."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.admin_helpers import wait_for
from tests.conftest import Process, isolated_env, make_user, make_zip, start_producer, start_web
from tests.web import log_in

HUGE_RESERVE_GIB = "1000000"  # a petabyte: more than any test machine has free


@dataclass
class Stack:
    env: dict[str, str]
    url: str
    log_dir: object


@pytest.fixture(scope="module")
def stack(test_env, log_dir, tmp_path_factory) -> Iterator[Stack]:
    """A producer and web of their own, so the only consumer of this vhost is the one each test starts."""
    with isolated_env(test_env, tmp_path_factory.mktemp("disk")) as env:
        producer = start_producer(env, log_dir, "producer-disk")
        web, url = start_web(env, log_dir, "web-disk")
        try:
            yield Stack(env, url, log_dir)
        finally:
            web.stop()
            producer.stop()


def consumer_name(stack: Stack) -> str:
    return stack.env["LABQUEUE_CONSUMER_NAME"] + "-disk"


def consumer(stack: Stack, reserve_gib: str, run: int) -> Process:
    env = {**stack.env, "LABQUEUE_CONSUMER_NAME": consumer_name(stack), "LABQUEUE_DISK_RESERVE_GIB": reserve_gib}
    return Process(f"consumer-disk-{run}", [sys.executable, "-m", "consumer", "--runtime", "python", "--slots", "1"], env, stack.log_dir)


def health_of(admin, name: str) -> dict | None:
    """A consumer's entry in health, which only admins (and the metrics token) see."""
    found = [c for c in admin.get("/api/v1/health").json()["consumers"] if c["name"] == name]
    return found[0] if found else None


def test_disk_limit_is_bounded_by_the_maximum_and_carried_in_the_job(stack: Stack) -> None:
    user = make_user(stack.env, stack.url)
    refused = user.submit(make_zip({"code.py": "print(1)"}), disk_limit="999999")
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == "disk_limit must be between 1 and 16384 MiB"
    assert user.submit(make_zip({"code.py": "print(1)"}), disk_limit="lots").status_code == 400
    job = user.submit(make_zip({"code.py": "print(1)"}), disk_limit="300").json()
    assert job["disk_limit"] == 300
    assert user.get(f"/api/v1/jobs/{job['id']}").json()["disk_limit"] == 300
    assert user.submit(make_zip({"code.py": "print(1)"})).json()["disk_limit"] == 4096
    user.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_consumer_short_of_disk_takes_nothing_until_the_reserve_is_kept(stack: Stack) -> None:
    user = make_user(stack.env, stack.url)
    admin = log_in(make_user(stack.env, stack.url, admin=True))
    name = consumer_name(stack)
    short = consumer(stack, HUGE_RESERVE_GIB, 1)
    try:
        short.wait_for_log("takes no new job")
        job_id = user.submit(make_zip({"code.py": "print('ran')"})).json()["id"]
        seen = wait_for(lambda: health_of(admin, name), 60, "the consumer's heartbeat")
        assert seen["taking_jobs"] is False
        assert re.fullmatch(r"free disk on the Docker host is [\d.]+ GiB, below the reserve of 1000000.0 GiB", seen["paused"]), seen
        page = admin.get("/admin/").text
        row = re.search(rf'<tr data-consumer="{name}">(.*?)</tr>', page, re.DOTALL).group(1)
        assert "below the reserve" in row
        upload = admin.get("/upload").text
        field = re.search(r'<input[^>]*name="disk_limit"[^>]*>', upload).group(0)
        assert 'max="16384"' in field and 'placeholder="4096"' in field and "at most 16384 MiB" in upload
        wait_for(lambda: health_of(admin, name)["last_seen"] != seen["last_seen"], 60, "a second heartbeat")
        assert user.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"
        assert "taking" not in short.log()
    finally:
        short.stop()
    kept = consumer(stack, "1", 2)
    try:
        kept.wait_for_log("taking")
        assert user.wait(job_id)["status"] == "succeeded"
        wait_for(lambda: health_of(admin, name)["taking_jobs"], 60, "a heartbeat taking jobs")
        assert health_of(admin, name)["paused"] == ""
    finally:
        kept.stop()
