"""Accounting on the real stack: a job's CPU seconds and peak memory come from its container's cgroup statistics."""

from __future__ import annotations

from tests.conftest import ApiUser, make_zip

BURN_CPU = """
import time
end = time.process_time() + 2.0
x = 0
while time.process_time() < end:
    x += 1
print("burned", x)
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
    print("usage", usage)
    assert 1.5 <= usage["cpu_seconds"] <= 2.6, usage
    assert usage["wall_seconds"] >= 2.0


def test_peak_memory_of_a_200_mb_allocation(user: ApiUser, python_consumer) -> None:
    job = user.wait(user.submit(make_zip({"code.py": ALLOCATE})).json()["id"])

    assert job["status"] == "succeeded", job
    print("usage", job["usage"])
    assert job["usage"]["peak_memory_bytes"] >= 200 * 1024 * 1024, job["usage"]
