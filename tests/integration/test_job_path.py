"""The whole path on real components: HTTP upload → object store → RabbitMQ → consumer → Docker → results."""

from __future__ import annotations

import requests

from tests.conftest import ApiUser, make_user, make_zip, read_zip

WRITES_OUTPUT = """
import numpy as np
from pathlib import Path
Path("output").mkdir(exist_ok=True)
values = np.arange(10)
Path("output/result.txt").write_text(f"sum={values.sum()}\\n")
print("done computing")
"""


def test_upload_runs_and_returns_output(user: ApiUser, python_consumer) -> None:
    project = make_zip({"code.py": WRITES_OUTPUT})
    response = user.submit(project, "sums.zip")
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "queued" and job["project"] == "project" and job["runtime"] == "python"

    job = user.wait(job["id"])

    assert job["status"] == "succeeded", job
    assert job["exit_code"] == 0
    assert job["attempt"] == 1 and job["consumer"]
    assert job["started_at"] and job["finished_at"]
    output = user.get(f"/api/v1/jobs/{job['id']}/output")
    assert output.status_code == 200
    assert read_zip(output.content) == {"result.txt": b"sum=45\n"}
    log = user.get(f"/api/v1/jobs/{job['id']}/log")
    assert log.headers["Content-Type"].startswith("text/plain")
    assert "done computing" in log.text
    assert user.get(f"/api/v1/jobs/{job['id']}/input").content == project


def test_nonzero_exit_ends_failed_with_stderr_in_log(user: ApiUser, python_consumer) -> None:
    code = "import sys\nprint('about to fail')\nsys.stderr.write('sensor file missing\\n')\nsys.exit(3)\n"
    job = user.submit(make_zip({"code.py": code}, top=None), "broken.zip").json()

    job = user.wait(job["id"])

    assert job["status"] == "failed"
    assert job["exit_code"] == 3
    assert "3" in job["reason"]
    assert job["project"] == "broken"
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert "about to fail" in log and "sensor file missing" in log


def test_rejected_zip_stores_nothing(user: ApiUser) -> None:
    before = user.get("/api/v1/jobs").json()["total"]
    response = user.submit(make_zip({"main.py": "print(1)"}), "nocode.zip")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "no_entry_file" and "code.py" in body["message"]
    assert user.get("/api/v1/jobs").json()["total"] == before


def test_api_requires_a_valid_token(live_server: str) -> None:
    assert requests.get(f"{live_server}/api/v1/jobs", timeout=10).status_code == 401
    bad = requests.get(f"{live_server}/api/v1/jobs", headers={"Authorization": "Bearer lq_nope"}, timeout=10)
    assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"


def test_other_users_job_is_not_found(user: ApiUser, test_env, live_server, python_consumer) -> None:
    job = user.submit(make_zip({"code.py": "print('mine')"})).json()
    stranger = make_user(test_env, live_server)
    for path in ("", "/log", "/output", "/input"):
        response = stranger.get(f"/api/v1/jobs/{job['id']}{path}")
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    assert stranger.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 404
    assert job["id"] not in [j["id"] for j in stranger.get("/api/v1/jobs").json()["items"]]
    user.wait(job["id"])
