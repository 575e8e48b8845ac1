"""Retention on the running stack: a job aged past LABQUEUE_RETENTION_DAYS (90 by default) loses its files to
`labqueue-admin cleanup` or the admin page's button; its row stays, marked expired, and downloads answer 410 Gone."""

from __future__ import annotations

import re

from storage.config import StorageConfig
from storage.objects import ObjectStore
from tests.admin_helpers import age_job
from tests.conftest import ApiUser, labqueue_admin, make_user, make_zip
from tests.web import log_in

WRITES_OUTPUT = "from pathlib import Path\nPath('output').mkdir(exist_ok=True)\nPath('output/a.txt').write_text('kept?')\nprint('wrote')\n"


def finished_job(user: ApiUser) -> dict:
    job = user.wait(user.submit(make_zip({"code.py": WRITES_OUTPUT})).json()["id"])
    assert job["status"] == "succeeded", job
    return job


def objects_of(env: dict[str, str], job_id: str) -> list[str]:
    store = ObjectStore(StorageConfig.from_env(env))
    listing = store.client.list_objects(bucket_name=store.bucket, prefix=f"jobs/{job_id}/", recursive=True)
    return [item.object_name for item in listing]


def test_cleanup_removes_an_old_jobs_files_and_keeps_its_record(test_env, live_server, python_consumer) -> None:
    user = make_user(test_env, live_server)
    old, recent = finished_job(user), finished_job(user)
    assert {f"jobs/{old['id']}/{name}" for name in ("input.zip", "output.zip", "log.txt")} <= set(objects_of(test_env, old["id"]))
    age_job(test_env, old["id"], days=100)

    result = labqueue_admin(test_env, "cleanup")

    assert result.returncode == 0, result.stderr
    assert re.match(r"expired 1 job\(s\) older than 90 days: \d+ object\(s\)", result.stdout), result.stdout
    assert objects_of(test_env, old["id"]) == []
    assert len(objects_of(test_env, recent["id"])) >= 3
    record = user.get(f"/api/v1/jobs/{old['id']}").json()
    assert record["status"] == "succeeded" and record["expired_at"] and record["usage"]["wall_seconds"] is not None
    assert user.get(f"/api/v1/jobs/{recent['id']}").json()["expired_at"] is None
    for path in ("/log", "/output", "/input", "/files", "/files/a.txt"):
        response = user.get(f"/api/v1/jobs/{old['id']}{path}")
        assert response.status_code == 410, (path, response.text)
        body = response.json()
        assert body["error"] == "gone" and "removed" in body["message"] and "retention" in body["message"], body
    resubmit = user.post(f"/api/v1/jobs/{old['id']}/resubmit")
    assert resubmit.status_code == 410 and resubmit.json()["error"] == "expired"
    browser = log_in(user)
    for path in ("/output.zip", "/log.txt"):
        assert browser.get(f"/jobs/{old['id']}{path}").status_code == 410
    page = browser.get(f"/jobs/{old['id']}")
    assert page.status_code == 200 and "removed on" in page.text
    assert user.get(f"/api/v1/jobs/{recent['id']}/output").status_code == 200

    again = labqueue_admin(test_env, "cleanup")
    assert again.returncode == 0 and again.stdout.startswith("expired 0 job(s)")


def test_admin_runs_the_cleanup_from_the_admin_page(test_env, live_server, python_consumer) -> None:
    admin = make_user(test_env, live_server, admin=True)
    job = finished_job(admin)
    age_job(test_env, job["id"], days=120)
    browser = log_in(admin)

    page = browser.form_post("/admin/cleanup")

    assert page.status_code == 200 and "Clean-up: 1 job(s) expired" in page.text, page.text[-2000:]
    assert admin.get(f"/api/v1/jobs/{job['id']}").json()["expired_at"]
    assert objects_of(test_env, job["id"]) == []
    assert browser.post("/admin/cleanup").status_code == 400  # no CSRF token
