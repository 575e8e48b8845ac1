"""Who may see what, on the running stack: another user's job is a missing job (404) on every page and endpoint,
anonymous callers get 401 (API) or the login page, tokens stop working when revoked, and session writes need the
CSRF token."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import ApiUser, make_user, make_zip
from tests.web import BrowserSession, log_in

OUTPUT_CODE = """
from pathlib import Path
Path("output").mkdir(exist_ok=True)
Path("output/secret.csv").write_text("a,b\\n1,2\\n")
"""


@pytest.fixture(scope="module")
def owner(test_env, live_server, python_consumer) -> ApiUser:
    return make_user(test_env, live_server)


@pytest.fixture(scope="module")
def stranger(test_env, live_server) -> ApiUser:
    return make_user(test_env, live_server)


@pytest.fixture(scope="module")
def owned_job(owner: ApiUser) -> dict:
    job = owner.wait(owner.submit(make_zip({"code.py": OUTPUT_CODE}, top="private")).json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_another_users_job_is_not_found_in_the_api(owned_job: dict, stranger: ApiUser, owner: ApiUser) -> None:
    job_id = owned_job["id"]
    for path in ("", "/log", "/output", "/files", "/files/secret.csv"):
        response = stranger.get(f"/api/v1/jobs/{job_id}{path}")
        assert response.status_code == 404, path
        assert response.json() == {"error": "not_found", "message": "no such job"}, path
    for action in ("cancel", "resubmit"):
        assert stranger.post(f"/api/v1/jobs/{job_id}/{action}").status_code == 404, action
    assert stranger.get(f"/api/v1/events?log={job_id}").status_code == 404
    assert job_id not in [j["id"] for j in stranger.get("/api/v1/jobs").json()["items"]]
    assert owner.get("/api/v1/jobs?per_page=200").json()["total"] >= 1
    assert stranger.get("/api/v1/jobs").json()["total"] == 0


def test_another_users_job_is_never_streamed(owned_job: dict, stranger: ApiUser) -> None:
    url = f"{stranger.base_url}/api/v1/events?job={owned_job['id']}"
    with requests.get(url, headers=stranger.headers, stream=True, timeout=30) as stream:
        stream.encoding = "utf-8"
        lines = []
        for line in stream.iter_lines(chunk_size=None, decode_unicode=True):
            lines.append(line)
            if len(lines) >= 3:  # the retry hint, its blank line, and whatever the first tick sent
                break
    assert not any(owned_job["id"] in line for line in lines)


def test_another_users_job_is_not_found_on_the_pages(owned_job: dict, stranger: ApiUser) -> None:
    browser = log_in(stranger)
    job_id = owned_job["id"]
    for path in ("", "/log.txt", "/output.zip", "/outputs", "/files/secret.csv"):
        response = browser.get(f"/jobs/{job_id}{path}")
        assert response.status_code == 404, path
        assert "secret" not in response.text and "private" not in response.text
    for action in ("cancel", "resubmit"):
        assert browser.form_post(f"/jobs/{job_id}/{action}").status_code == 404, action
    assert job_id not in browser.get("/jobs").text


def test_the_owner_sees_it_all_on_the_pages(owned_job: dict, owner: ApiUser) -> None:
    browser = log_in(owner)
    page = browser.get(f"/jobs/{owned_job['id']}")
    assert page.status_code == 200 and "secret.csv" in page.text and "<td>1</td>" in page.text
    assert browser.get(f"/jobs/{owned_job['id']}/files/secret.csv").text == "a,b\n1,2\n"
    assert owned_job["id"] in browser.get("/jobs").text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef"),
        ("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef/log"),
        ("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef/output"),
        ("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef/files"),
        ("GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef/files/a.png"),
        ("POST", "/api/v1/jobs/0123456789abcdef0123456789abcdef/cancel"),
        ("POST", "/api/v1/jobs/0123456789abcdef0123456789abcdef/resubmit"),
        ("GET", "/api/v1/events"),
    ],
)
def test_anonymous_api_calls_get_401(live_server: str, method: str, path: str) -> None:
    response = requests.request(method, live_server + path, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    "path",
    ["/jobs", "/upload", "/account", "/jobs/0123456789abcdef0123456789abcdef", "/jobs/0123456789abcdef0123456789abcdef/log.txt"],
)
def test_anonymous_pages_lead_to_the_login_page(live_server: str, path: str) -> None:
    response = requests.get(live_server + path, timeout=10, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_public_endpoints_need_no_login(live_server: str) -> None:
    assert requests.get(f"{live_server}/api/v1/openapi.json", timeout=10).json()["openapi"].startswith("3.1")
    assert requests.get(f"{live_server}/api/v1/health", timeout=10).status_code in (200, 503)


def test_a_token_made_on_the_account_page_works_until_revoked(test_env, live_server) -> None:
    user = make_user(test_env, live_server)
    browser = log_in(user)

    created = browser.form_post("/account/tokens", {"name": "laptop"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    token = created.text.split('id="new-token-value" data-select-on-focus', 1)[0].rsplit('value="', 1)[1].split('"', 1)[0]
    assert token.startswith("lq_")
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live_server}/api/v1/jobs", headers=bearer, timeout=10).status_code == 200
    account = browser.get("/account").text
    assert "laptop" in account and token not in account  # shown once, stored hashed

    token_id = account.split('data-token-id="', 2)[1].split('"', 1)[0]
    assert browser.form_post(f"/account/tokens/{token_id}/revoke").status_code == 200
    assert requests.get(f"{live_server}/api/v1/jobs", headers=bearer, timeout=10).status_code == 401
    assert "revoked" in browser.get("/account").text


def test_nobody_revokes_another_users_token(test_env, live_server, stranger: ApiUser) -> None:
    victim = make_user(test_env, live_server)
    victim_browser = log_in(victim)
    victim_browser.form_post("/account/tokens", {"name": "cluster"})
    token_id = victim_browser.get("/account").text.split('data-token-id="', 2)[1].split('"', 1)[0]

    assert log_in(stranger).form_post(f"/account/tokens/{token_id}/revoke").status_code == 404
    assert "revoked" not in victim_browser.get("/account").text


def test_session_writes_need_the_csrf_token(owner: ApiUser) -> None:
    browser: BrowserSession = log_in(owner)
    upload = {"file": ("p.zip", make_zip({"code.py": "print(1)"}), "application/zip")}

    without = browser.post("/api/v1/jobs", files=upload)
    with_header = browser.post("/api/v1/jobs", files=upload, headers={"X-CSRFToken": browser.csrf})
    page_form = browser.post("/account/tokens", data={"name": "no-token"})

    assert without.status_code == 400 and without.json()["error"] == "csrf"
    assert with_header.status_code == 201, with_header.text
    assert page_form.status_code == 400 and "no-token" not in browser.get("/account").text
