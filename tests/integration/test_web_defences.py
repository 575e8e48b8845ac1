"""The web's soft spots, closed on the real server (gunicorn's workers, the shared database): each test replays a
finding of issue 14 against the live web. tests/unit/test_web_security.py covers the same rules in depth in process."""

from __future__ import annotations

import time
from dataclasses import replace

import requests
from sqlalchemy import select

from storage.db import Database
from storage.models import User
from tests.conftest import ApiUser, make_user, make_zip
from tests.web import log_in, post_login


def test_a_session_saved_before_logout_is_dead_after_it(user: ApiUser) -> None:
    browser = log_in(user)
    saved = dict(browser.http.cookies)
    assert browser.form_post("/logout", allow_redirects=False).status_code == 302

    replayed = requests.get(user.base_url + "/jobs", cookies=saved, timeout=30, allow_redirects=False)

    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]


def test_a_session_saved_before_an_admins_reset_or_disable_is_dead_after_it(user: ApiUser, test_env: dict[str, str]) -> None:
    admin = log_in(make_user(test_env, user.base_url, admin=True))
    with Database(test_env["LABQUEUE_DATABASE_URL"]).session() as session:
        user_id = session.scalars(select(User.id).where(User.name == user.name)).one()
    before_reset = dict(log_in(user).http.cookies)
    assert admin.form_post(f"/admin/users/{user_id}/password", data={"password": "reset by the admin"}).status_code == 200
    before_disable = dict(log_in(replace(user, password="reset by the admin")).http.cookies)
    assert admin.form_post(f"/admin/users/{user_id}/disable", allow_redirects=False).status_code == 302

    for saved in (before_reset, before_disable):
        replayed = requests.get(user.base_url + "/jobs", cookies=saved, timeout=30, allow_redirects=False)
        assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]


def test_pages_and_the_log_send_the_security_headers(user: ApiUser, python_consumer) -> None:
    page = log_in(user).get("/jobs")
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"]
    job_id = user.submit(make_zip({"code.py": "print('hello')\n"})).json()["id"]
    user.wait(job_id)
    assert user.get(f"/api/v1/jobs/{job_id}/log").headers["X-Content-Type-Options"] == "nosniff"


def test_a_forged_host_is_refused_and_never_echoed(live_server: str) -> None:
    forged = requests.get(live_server + "/", headers={"Host": "evil.example"}, timeout=30, allow_redirects=False)

    assert forged.status_code == 400
    assert "evil.example" not in forged.headers.get("Location", "") + forged.text


def test_a_huge_page_is_400_on_the_api_and_clamped_on_the_results_page(user: ApiUser) -> None:
    api = user.get("/api/v1/jobs?page=9223372036854775807")
    page = log_in(user).get("/jobs?page=9223372036854775807")

    assert api.status_code == 400 and api.json()["error"] == "bad_request"
    assert page.status_code == 200


def test_a_next_with_control_characters_is_ignored(user: ApiUser) -> None:
    answer = post_login(requests.Session(), user, "?next=%2F%0D%0AX:1")

    assert answer.status_code == 302 and "\n" not in answer.headers["Location"] and "X:1" not in answer.headers["Location"]


def test_public_health_names_no_consumer_and_an_admin_sees_them(live_server: str, test_env: dict[str, str], python_consumer) -> None:
    admin = make_user(test_env, live_server, admin=True)
    deadline = time.monotonic() + 60
    while not (detailed := admin.get("/api/v1/health").json()).get("consumers"):  # until its first heartbeat is recorded
        assert time.monotonic() < deadline, detailed
        time.sleep(0.5)
    public = requests.get(live_server + "/api/v1/health", timeout=30)

    assert {"name", "host", "slots"} <= set(detailed["consumers"][0])
    assert set(public.json()) == {"status", "components"}
    assert detailed["consumers"][0]["name"] not in public.text and detailed["consumers"][0]["host"] not in public.text
