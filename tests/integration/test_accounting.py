"""Accounting on the real stack: a job's CPU seconds and peak memory come from its container's cgroup statistics,
its queue wait from its times; per-user totals come out of `labqueue-admin usage`."""

from __future__ import annotations

import json

from tests.admin_helpers import today
from tests.conftest import ApiUser, labqueue_admin, make_user, make_zip

# Burns 2 s of CPU, then says how much CPU the process used in all (interpreter start-up included).
BURN_CPU = """
import time
end = time.process_time() + 2.0
x = 0
while time.process_time() < end:
    x += 1
print("cpu", time.process_time())
"""

ALLOCATE = """
import time
block = bytearray(200 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(1.0)
print("held", len(block))
"""


def test_a_job_burning_two_cpu_seconds_shows_about_two(user: ApiUser, python_consumer) -> None:
    job = user.wait(user.submit(make_zip({"code.py": BURN_CPU})).json()["id"])

    assert job["status"] == "succeeded", job
    usage = job["usage"]
    own = float(user.get(f"/api/v1/jobs/{job['id']}/log").text.split("cpu", 1)[1].split()[0])
    assert 1.5 <= usage["cpu_seconds"] <= 2.6, usage
    assert abs(usage["cpu_seconds"] - own) < 0.2, (usage, own)  # the cgroup's count against the process's own
    assert usage["wall_seconds"] >= 2.0 and usage["queue_wait_seconds"] >= 0


def test_peak_memory_of_a_200_mb_allocation(user: ApiUser, python_consumer) -> None:
    job = user.wait(user.submit(make_zip({"code.py": ALLOCATE})).json()["id"])

    assert job["status"] == "succeeded", job
    assert job["usage"]["peak_memory_bytes"] >= 200 * 1024 * 1024, job["usage"]


def test_usage_totals_per_user(test_env, live_server, python_consumer) -> None:
    user = make_user(test_env, live_server)
    jobs = [user.wait(user.submit(make_zip({"code.py": code})).json()["id"]) for code in (BURN_CPU, "raise SystemExit(2)")]

    result = labqueue_admin(test_env, "usage", "--since", today(), "--json")

    assert result.returncode == 0, result.stderr
    mine = next(row for row in json.loads(result.stdout) if row["user"] == user.name)
    assert (mine["jobs"], mine["started"], mine["succeeded"], mine["failed"]) == (2, 2, 1, 1)
    assert mine["cpu_seconds"] == sum(job["usage"]["cpu_seconds"] or 0 for job in jobs) and mine["cpu_seconds"] >= 1.5
    assert abs(mine["wall_seconds"] - sum(job["usage"]["wall_seconds"] for job in jobs)) < 1e-6
    assert abs(mine["queue_wait_seconds"] - sum(job["usage"]["queue_wait_seconds"] for job in jobs)) < 0.01
    assert mine["peak_memory_bytes"] == max(job["usage"]["peak_memory_bytes"] or 0 for job in jobs)
    table = labqueue_admin(test_env, "usage", "--since", today()).stdout.splitlines()
    assert table[0].split()[:4] == ["user", "jobs", "succeeded", "failed"]
    assert next(line.split() for line in table if line.startswith(user.name + " "))[1:4] == ["2", "1", "1"]
