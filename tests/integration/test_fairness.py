"""Per-user limits and fair use on the running stack: too many waiting jobs are refused (429), a used-up output
quota too (422), jobs past the running limit are accepted but held, and one user's backlog does not hold up
another user's job."""

from __future__ import annotations

from datetime import datetime

from tests.admin_helpers import SLEEPER, set_limits
from tests.conftest import ApiUser, make_user, make_zip

WRITES_10K = "from pathlib import Path\nPath('output').mkdir(exist_ok=True)\nPath('output/noise.bin').write_bytes(__import__('os').urandom(10000))\n"


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def submit_sleeper(user: ApiUser, seconds: float) -> dict:
    response = user.submit(make_zip({"code.py": SLEEPER.format(seconds=seconds)}))
    assert response.status_code == 201, response.text
    return response.json()


def test_queued_limit_refuses_and_running_limit_holds(test_env, live_server, python_consumer) -> None:
    user = make_user(test_env, live_server)
    set_limits(test_env, user.name, max_queued="2", max_running="1")
    first = submit_sleeper(user, 120)
    user.wait(first["id"], until={"running"})

    held = [submit_sleeper(user, 1) for _ in range(2)]
    refused = user.submit(make_zip({"code.py": SLEEPER.format(seconds=1)}))

    assert [job["status"] for job in held] == ["queued", "queued"]
    assert all(job["reason"] == "held: 1 of your jobs are running (limit 1)" for job in held), held
    assert refused.status_code == 429, refused.text
    assert refused.json() == {
        "error": "too_many_queued",
        "message": "you have 2 jobs waiting to start (limit 2); submit more once some have started",
    }
    # Held means not handed to the broker: they stay held while the first job runs.
    assert all(user.get(f"/api/v1/jobs/{job['id']}").json()["reason"].startswith("held:") for job in held)

    set_limits(test_env, user.name, max_running="3")  # a slot is theirs now: the relay releases both
    for job in held:
        assert user.wait(job["id"], timeout=120)["status"] == "succeeded"
    assert user.post(f"/api/v1/jobs/{first['id']}/cancel").status_code == 202
    assert user.wait(first["id"])["status"] == "cancelled"


def test_used_up_output_quota_refuses_new_jobs(test_env, live_server, python_consumer) -> None:
    user = make_user(test_env, live_server)
    set_limits(test_env, user.name, output_quota_gib=str(5000 / 2**30))  # 5000 bytes
    job = user.wait(user.submit(make_zip({"code.py": WRITES_10K})).json()["id"])
    assert job["status"] == "succeeded" and job["output_bytes"] > 5000, job

    refused = user.submit(make_zip({"code.py": "print(1)"}))

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "quota_exceeded"
    assert "quota" in refused.json()["message"] and "4.9 KiB" in refused.json()["message"]
    set_limits(test_env, user.name, output_quota_gib="default")
    assert user.submit(make_zip({"code.py": "print(1)"})).status_code == 201


def test_one_users_backlog_does_not_hold_up_anothers_job(test_env, live_server, python_consumer) -> None:
    """A submits six 5 s jobs with a running limit of 2 on a 2-slot consumer; B submits one just after. B's job
    starts when the first of A's ends, before A's third, not after A's whole backlog."""
    a, b = make_user(test_env, live_server), make_user(test_env, live_server)
    set_limits(test_env, a.name, max_running="2")
    a_jobs = [submit_sleeper(a, 5) for _ in range(6)]
    b_job = submit_sleeper(b, 1)

    assert [job["reason"].startswith("held:") for job in a_jobs] == [False, False, True, True, True, True], a_jobs
    assert a_jobs[2]["reason"] == "held: 2 of your jobs are running (limit 2)"
    assert b_job["reason"] == "waiting for a consumer"
    b_done = b.wait(b_job["id"], timeout=180)
    a_done = [a.wait(job["id"], timeout=240) for job in a_jobs]

    assert b_done["status"] == "succeeded" and {job["status"] for job in a_done} == {"succeeded"}
    a_starts = sorted(at(job["started_at"]) for job in a_done)
    assert at(b_done["started_at"]) < a_starts[2], (b_done["started_at"], a_starts)
    assert at(b_done["finished_at"]) < max(at(job["finished_at"]) for job in a_done)
    # A never had more than two jobs running at once.
    spans = [(at(job["started_at"]), at(job["finished_at"])) for job in a_done]
    assert max(sum(start <= moment < end for start, end in spans) for moment, _ in spans) <= 2
