"""The admin pages on the running stack: for admins only (403 for others, the login page for strangers); the
overview shows queues, consumers, running jobs with owner and elapsed time, failures with reasons, a chart and usage;
users are created, disabled, made admin, given a new password and limits, every form with its CSRF token."""

from __future__ import annotations

import re
import secrets

import pytest
import requests

from tests.admin_helpers import SLEEPER, wait_for
from tests.conftest import ApiUser, make_user, make_zip
from tests.web import BrowserSession, csrf_token, log_in


@pytest.fixture(scope="module")
def admin(test_env, live_server) -> ApiUser:
    return make_user(test_env, live_server, admin=True)


@pytest.fixture(scope="module")
def admin_browser(admin: ApiUser) -> BrowserSession:
    return log_in(admin)


def can_log_in(base_url: str, name: str, password: str) -> bool:
    http = requests.Session()
    page = http.get(base_url + "/login", timeout=30)
    data = {"csrf_token": csrf_token(page.text), "name": name, "password": password}
    return http.post(base_url + "/login", data=data, timeout=30, allow_redirects=False).status_code == 302


def test_admin_pages_are_for_admins_only(test_env, live_server, admin_browser: BrowserSession) -> None:
    researcher = make_user(test_env, live_server)
    browser = log_in(researcher)
    for path in ("/admin/", "/admin/users", "/admin/users/1"):
        assert browser.get(path).status_code == 403, path
        assert researcher.get(path).status_code == 403, path  # with a bearer token too
        anonymous = requests.get(live_server + path, timeout=30, allow_redirects=False)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], path
    created = browser.form_post("/admin/users", {"name": "sneaky-admin", "password": "long enough pw", "admin": "y"})
    assert created.status_code == 403
    assert browser.form_post("/admin/cleanup").status_code == 403
    assert browser.form_post("/admin/users/1/grant-admin").status_code == 403
    assert 'href="/admin/"' not in browser.get("/jobs").text
    assert 'href="/admin/"' in admin_browser.get("/jobs").text


def test_overview_shows_queues_consumers_running_jobs_failures_chart_and_usage(
    test_env, live_server, python_consumer, admin_browser: BrowserSession
) -> None:
    researcher = make_user(test_env, live_server)
    failed = researcher.wait(researcher.submit(make_zip({"code.py": "raise SystemExit('sensor 7 missing')"}, top="broken")).json()["id"])
    running = researcher.submit(make_zip({"code.py": SLEEPER.format(seconds=30)}, top="long-analysis")).json()
    researcher.wait(running["id"], until={"running"})

    page = wait_for(lambda: (p := admin_browser.get("/admin/")).status_code == 200 and 'data-consumer="' in p.text and p, 30, "a consumer")

    html = page.text
    runtimes = re.search(r'<tr data-runtime="python">(.*?)</tr>', html, re.DOTALL).group(1)
    assert re.search(r'data-field="depth">\d+<', runtimes) and re.search(r'data-field="consumers">[1-9]', runtimes)
    assert f'data-consumer="{python_consumer.name}"' in html and "alive" in html
    row = re.search(rf'<tr data-job-id="{running["id"]}">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "long-analysis" in row and researcher.name in row and re.search(r"\d+\.\d s|\d+ min", row)
    failure = re.search(rf'<tr data-job-id="{failed["id"]}">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "broken" in failure and "exited with code 1" in failure and researcher.name in failure
    assert re.search(r'<svg class="chart"[^>]*>.*<rect [^>]*fill="#2e90fa"', html, re.DOTALL), "a running job's bar"
    usage = re.search(rf'<tr data-user="{researcher.name}">(.*?)</tr>', html, re.DOTALL).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', usage)[:3] == ["2", "0", "1"]  # jobs, succeeded, failed
    assert admin_browser.get("/admin/?range=7d&since=2020-01-01").status_code == 200

    assert researcher.post(f"/api/v1/jobs/{running['id']}/cancel").status_code == 202
    researcher.wait(running["id"])


def test_admin_manages_users_and_limits(test_env, live_server, admin: ApiUser, admin_browser: BrowserSession) -> None:
    guest = f"guest-{secrets.token_hex(3)}"
    created = admin_browser.form_post("/admin/users", {"name": guest, "password": ""})
    assert created.status_code == 200 and f"Created user {guest}" in created.text
    password = re.search(rf'Password of {guest}, shown this once\s*<input type="text" readonly value="([^"]+)"', created.text).group(1)
    assert can_log_in(live_server, guest, password)
    user_id = int(re.search(rf'<a href="/admin/users/(\d+)">{guest}</a>', created.text).group(1))
    assert admin_browser.form_post("/admin/users", {"name": guest, "password": "x" * 10}).status_code == 422  # exists

    page = admin_browser.form_post(f"/admin/users/{user_id}/disable")
    assert f"{guest}: disable done" in page.text and "disabled" in page.text
    assert not can_log_in(live_server, guest, password)
    admin_browser.form_post(f"/admin/users/{user_id}/enable")
    assert can_log_in(live_server, guest, password)

    reset = admin_browser.form_post(f"/admin/users/{user_id}/password", {"password": "a new password 1"})
    assert "password is changed" in reset.text
    assert can_log_in(live_server, guest, "a new password 1") and not can_log_in(live_server, guest, password)
    generated = admin_browser.form_post(f"/admin/users/{user_id}/password", {"password": ""})
    new = re.search(rf'New password of {guest}, shown this once\s*<input type="text" readonly value="([^"]+)"', generated.text).group(1)
    assert can_log_in(live_server, guest, new)

    limits = admin_browser.form_post(f"/admin/users/{user_id}/limits", {"max_queued": "5", "max_running": "1", "output_quota_gib": "2.5"})
    assert "limits are saved" in limits.text
    assert re.search(r'name="max_queued"[^>]*value="5"', limits.text) and re.search(r'name="output_quota_gib"[^>]*value="2.5"', limits.text)
    listing = admin_browser.get("/admin/users").text
    row = re.search(rf'<tr data-user="{guest}">(.*?)</tr>', listing, re.DOTALL).group(1)
    assert "0 of 5" in row and "0 of 1" in row and "of 2.5 GiB" in row
    assert "Most jobs waiting" in admin_browser.form_post(f"/admin/users/{user_id}/limits", {"max_queued": "-1"}).text

    made_admin = admin_browser.form_post(f"/admin/users/{user_id}/grant-admin")
    assert "grant admin done" in made_admin.text
    guest_browser = log_in(ApiUser(live_server, guest, new, ""))
    assert guest_browser.get("/admin/").status_code == 200

    me = int(re.search(rf'<a href="/admin/users/(\d+)">{admin.name}</a>', listing).group(1))
    refused = admin_browser.form_post(f"/admin/users/{me}/disable")
    assert "you cannot disable your own account" in refused.text
    assert admin_browser.post(f"/admin/users/{user_id}/disable").status_code == 400  # no CSRF token
