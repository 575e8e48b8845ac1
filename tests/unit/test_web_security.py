"""The web's soft spots, closed: security headers and a strict CSP, trusted hosts, bounded query parameters, safe
``next``, revocable sessions, login and bearer-token throttling, and what /api/v1/health tells whom.

In-process (``app.test_client()``) against a throwaway SQLite database: nothing here crosses a process, and the
object store and broker are addresses where nothing listens (health reports them failing, which is what it should).
tests/integration/test_login_throttle.py proves the throttle against gunicorn with several workers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

import storage.ratelimits
import webapp.accounts
from producer.config import BrokerConfig
from storage.config import StorageConfig
from storage.db import Database
from storage.limits import LimitDefaults
from storage.models import ConsumerSeen, User
from storage.retention import RetentionConfig
from webapp import create_app
from webapp.accounts import authenticate, create_token, create_user
from webapp.config import WebConfig

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"
PASSWORD = "correct horse"
METRICS_TOKEN = "metrics-token-for-tests"
BASE_WEB = WebConfig(
    secret_key="test-secret",
    metrics_token=METRICS_TOKEN,
    login_rate_per_address="6/minute",
    login_rate_per_account="3/minute",
    bad_token_rate_per_address="4/minute",
)


def make_app(tmp_path: Path, **web: object) -> Flask:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    Database(url).upgrade()  # what `labqueue-admin migrate` does before a server starts
    return create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "WEB_CONFIG": BASE_WEB.replace(**web),
            "STORAGE_CONFIG": StorageConfig(
                database_url=url, s3_endpoint="127.0.0.1:9", s3_access_key="k", s3_secret_key="s"
            ),
            "BROKER_CONFIG": BrokerConfig(url="amqp://nobody:nothing@127.0.0.1:9/", connect_timeout=1),
            "LIMIT_DEFAULTS": LimitDefaults(),
            "RETENTION_CONFIG": RetentionConfig(),
        }
    )


class Clock:
    """The rate counters' clock, standing still unless a test moves it: a window must not pass while a slow
    machine is still counting (each wrong login costs a scrypt)."""

    def __init__(self) -> None:
        self.now = time.time()

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(storage.ratelimits, "time", SimpleNamespace(time=lambda: frozen.now))
    return frozen


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path)
    with app.extensions["labqueue"].db.session() as session:
        create_user(session, "alice", PASSWORD)
        create_user(session, "bob", PASSWORD)
        create_user(session, "root", PASSWORD, is_admin=True)
    yield app


def client(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    """A browser of its own (own cookies) at ``address``."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def log_in(app: Flask, name: str, password: str = PASSWORD, address: str = "127.0.0.1") -> FlaskClient:
    browser = client(app, address)
    response = browser.post("/login", data={"name": name, "password": password})
    assert response.status_code == 302, response.data[:300]
    return browser


def user_id(app: Flask, name: str) -> int:
    with app.extensions["labqueue"].db.session() as session:
        return next(u.id for u in session.query(User).filter(User.name == name))


# -- headers ---------------------------------------------------------------------------------------------------


def test_every_page_sends_a_strict_csp_and_frame_and_sniffing_headers(app: Flask) -> None:
    alice, root = log_in(app, "alice"), log_in(app, "root")
    pages = [client(app).get("/login"), alice.get("/jobs"), alice.get("/upload"), alice.get("/account"), alice.get("/datasets")]
    pages += [root.get("/admin/"), root.get("/admin/users"), alice.get("/jobs/" + "0" * 32)]  # an error page too
    for page in pages:
        assert page.mimetype == "text/html"
        csp = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in page.headers  # plain HTTP: a browser ignores it, do not send it


def test_no_template_holds_what_the_csp_blocks() -> None:
    """No inline script, no on* handler, no style attribute: the pages must work under their own policy."""
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        assert "<style" not in text and "javascript:" not in text, template.name


def test_hsts_over_https_only_and_the_proxy_is_believed_only_when_configured(app: Flask, tmp_path: Path) -> None:
    assert client(app).get("/login", base_url="https://localhost").headers["Strict-Transport-Security"].startswith("max-age=")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert "Strict-Transport-Security" not in client(app).get("/login", headers=forwarded).headers

    (tmp_path / "proxied").mkdir()
    proxied = make_app(tmp_path / "proxied", proxy_count=1)
    assert "Strict-Transport-Security" in client(proxied).get("/login", headers=forwarded).headers


def test_json_and_errors_say_nosniff_too(app: Flask) -> None:
    alice = log_in(app, "alice")
    for response in (alice.get("/api/v1/jobs"), alice.get("/api/v1/jobs/" + "0" * 32), client(app).get("/api/v1/jobs")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Frame-Options" not in response.headers  # not a page


# -- hosts, parameters, next -----------------------------------------------------------------------------------


def test_a_forged_host_is_refused_and_never_echoed(app: Flask) -> None:
    for path in ("/", "/login", "/jobs", "/api/v1/health"):
        response = client(app).get(path, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        assert b"evil.example" not in response.data and "evil" not in response.headers.get("Location", "")
    assert client(app).get("/", headers={"Host": "localhost:8000"}).status_code == 302
    assert client(app).get("/", headers={"Host": "127.0.0.1:5000"}).status_code == 302


def test_the_public_url_host_is_trusted_and_a_list_replaces_the_default(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    public = make_app(tmp_path / "a", trusted_hosts=WebConfig.from_env({"LABQUEUE_SECRET_KEY": "x", "LABQUEUE_PUBLIC_URL": "https://lq.lab.example"}).trusted_hosts)
    assert client(public).get("/login", headers={"Host": "lq.lab.example"}).status_code == 200
    assert client(public).get("/login", headers={"Host": "localhost"}).status_code == 200
    listed = make_app(tmp_path / "b", trusted_hosts=WebConfig.from_env({"LABQUEUE_SECRET_KEY": "x", "LABQUEUE_TRUSTED_HOSTS": "web, .lab.example"}).trusted_hosts)
    assert client(listed).get("/login", headers={"Host": "web:8000"}).status_code == 200
    assert client(listed).get("/login", headers={"Host": "node3.lab.example"}).status_code == 200
    assert client(listed).get("/login", headers={"Host": "localhost"}).status_code == 400


@pytest.mark.parametrize(
    "query",
    ["page=9223372036854775807", "page=0", "page=-1", "page=abc", "page=1e3", "per_page=0", "per_page=201", "per_page=-5",
     "per_page=99999999999999999999999", "page=%C2%B2"],
)
def test_the_api_refuses_out_of_range_paging_with_400_json(app: Flask, query: str) -> None:
    response = log_in(app, "alice").get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400
    assert response.json["error"] == "bad_request" and "page" in response.json["message"]


def test_the_api_pages_within_bounds(app: Flask) -> None:
    response = log_in(app, "alice").get("/api/v1/jobs?page=1000000&per_page=200")
    assert response.status_code == 200 and response.json["items"] == [] and response.json["page"] == 1000000


@pytest.mark.parametrize("page", ["9223372036854775807", "-3", "garbage", "0", "99999999999999999999999999999999999"])
def test_the_results_page_clamps_its_page(app: Flask, page: str) -> None:
    response = log_in(app, "alice").get(f"/jobs?page={page}")
    assert response.status_code == 200
    assert b"Your jobs" in response.data


@pytest.mark.parametrize(
    "target", ["%2F%0D%0AX:1", "%2F%0AX", "//evil.example/", "/%5Cevil.example", "/\\evil.example", "https://evil.example/", "/a%00", "/ x"]
)
def test_a_next_that_is_not_a_plain_local_path_is_ignored(app: Flask, target: str) -> None:
    response = client(app).post(f"/login?next={target}", data={"name": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"


def test_a_plain_local_next_is_followed(app: Flask) -> None:
    response = client(app).post("/login?next=/upload%3Fa%3D1", data={"name": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/upload?a=1"


# -- sessions --------------------------------------------------------------------------------------------------


def saved_copy(app: Flask, browser: FlaskClient, address: str = "127.0.0.1") -> FlaskClient:
    """Another client holding the same session cookie, as an attacker with a copy of it would."""
    copy = client(app, address)
    copy.set_cookie("session", browser.get_cookie("session").value)
    assert copy.get("/jobs").status_code == 200 and copy.get("/api/v1/jobs").status_code == 200
    return copy


def assert_logged_out(copy: FlaskClient) -> None:
    assert copy.get("/jobs").status_code == 302
    assert copy.get("/api/v1/jobs").status_code == 401


def test_logout_ends_every_session_of_the_user(app: Flask) -> None:
    browser, other_browser = log_in(app, "alice"), log_in(app, "alice")
    copy = saved_copy(app, browser)
    bob = log_in(app, "bob")
    assert browser.post("/logout").status_code == 302
    assert_logged_out(copy)
    assert_logged_out(other_browser)
    assert bob.get("/jobs").status_code == 200  # another user's sessions live on


def test_log_out_everywhere_on_the_account_page(app: Flask) -> None:
    browser, elsewhere = log_in(app, "alice"), log_in(app, "alice")
    page = browser.get("/account")
    assert b'id="end-sessions"' in page.data and b'id="password-form"' in page.data
    assert browser.post("/account/sessions/end").status_code == 302
    assert_logged_out(elsewhere)
    assert_logged_out(browser)


def test_changing_the_password_needs_the_old_one_and_ends_the_other_sessions(app: Flask) -> None:
    browser = log_in(app, "alice")
    copy = saved_copy(app, browser)
    wrong = browser.post("/account/password", data={"old": "not it", "new": "a new password", "again": "a new password"})
    assert wrong.status_code == 400 and b"current password is wrong" in wrong.data
    assert copy.get("/jobs").status_code == 200
    differ = browser.post("/account/password", data={"old": PASSWORD, "new": "a new password", "again": "another one"})
    assert differ.status_code == 400 and b"differ" in differ.data

    changed = browser.post("/account/password", data={"old": PASSWORD, "new": "a new password", "again": "a new password"})
    assert changed.status_code == 302
    assert_logged_out(copy)
    assert browser.get("/jobs").status_code == 200  # the browser that changed it goes on, in a new session
    log_in(app, "alice", "a new password")
    assert client(app).post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 200


def test_an_admin_reset_or_disable_ends_the_users_sessions(app: Flask) -> None:
    root = log_in(app, "root")
    alice_copy = saved_copy(app, log_in(app, "alice"))
    assert root.post(f"/admin/users/{user_id(app, 'alice')}/password", data={"password": "reset by root"}).status_code == 200
    assert_logged_out(alice_copy)

    bob_copy = saved_copy(app, log_in(app, "bob"))
    assert root.post(f"/admin/users/{user_id(app, 'bob')}/disable").status_code == 302
    assert_logged_out(bob_copy)
    root.post(f"/admin/users/{user_id(app, 'bob')}/enable")
    assert_logged_out(bob_copy)  # enabling again does not bring the old session back


def test_a_session_ends_after_the_session_lifetime(app: Flask) -> None:
    browser = log_in(app, "alice")
    with browser.session_transaction() as session:
        session["login_at"] = time.time() - BASE_WEB.session_hours * 3600 - 1
    assert_logged_out(browser)
    assert app.permanent_session_lifetime.total_seconds() == BASE_WEB.session_hours * 3600


# -- throttling --------------------------------------------------------------------------------------------------


def wrong_login(app: Flask, name: str, address: str) -> int:
    return client(app, address).post("/login", data={"name": name, "password": "wrong password"}).status_code


def test_failed_logins_per_account_are_a_rate_not_a_lockout(app: Flask, clock: Clock) -> None:
    """3 a minute for one account name, from any address; the owner gets in once the window passed."""
    assert [wrong_login(app, "alice", f"10.0.0.{i}") for i in range(1, 5)] == [200, 200, 200, 429]
    refused = client(app, "10.0.9.9").post("/login", data={"name": "alice", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert b"Too many failed logins" in refused.data
    log_in(app, "bob", address="10.0.0.1")  # other accounts are not affected
    clock.advance(61)
    log_in(app, "alice", address="10.0.9.9")  # the window passed: the owner is in


def test_failed_logins_per_address_stop_that_address_only(app: Flask) -> None:
    names = ["nobody-1", "nobody-2", "nobody-3", "alice", "bob", "nobody-4"]
    assert [wrong_login(app, name, "10.1.0.1") for name in names] == [200] * 6
    refused = client(app, "10.1.0.1").post("/login", data={"name": "root", "password": PASSWORD})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    log_in(app, "root", address="10.1.0.2")
    assert client(app, "10.1.0.1").get("/login").status_code == 200  # the form itself is never throttled


def test_successful_logins_are_not_throttled(app: Flask) -> None:
    for _ in range(10):
        log_in(app, "alice")


def test_wrong_bearer_tokens_are_throttled_per_address(app: Flask) -> None:
    with app.extensions["labqueue"].db.session() as session:
        token = create_token(session, session.get(User, user_id(app, "alice")))
    bad = {"Authorization": "Bearer lq_guess"}
    assert [client(app, "10.2.0.1").get("/api/v1/jobs", headers=bad).status_code for _ in range(5)] == [401] * 4 + [429]
    refused = client(app, "10.2.0.1").get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1 and refused.json["error"] == "too_many_requests"
    assert client(app, "10.2.0.2").get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client(app, "10.2.0.2").get("/api/v1/jobs", headers=bad).status_code == 401
    metrics = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert [client(app, "10.2.0.3").get("/api/v1/health", headers=metrics).status_code for _ in range(6)] == [503] * 6


def test_counters_are_shared_through_the_database(app: Flask, tmp_path: Path) -> None:
    """A second app on the same database (another gunicorn worker) sees the first one's failures."""
    other = make_app(tmp_path)
    assert [wrong_login(app, "alice", "10.3.0.1"), wrong_login(other, "alice", "10.3.0.2"), wrong_login(app, "alice", "10.3.0.3")] == [200] * 3
    assert wrong_login(other, "alice", "10.3.0.4") == 429


def test_unknown_and_known_names_cost_one_password_check_of_the_same_kind(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Login time must not tell which names exist: every answer costs one check against a hash made alike."""
    checked: list[str] = []
    real_check = webapp.accounts.check_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$")[0])  # the method and its cost parameters, e.g. scrypt:32768:8:1
        return real_check(pwhash, password)

    monkeypatch.setattr(webapp.accounts, "check_password_hash", counting_check)
    with app.extensions["labqueue"].db.session() as session:
        for name, password in (("nobody-at-all", "wrong password"), ("alice", "wrong password"), ("alice", PASSWORD)):
            before = len(checked)
            authenticate(session, name, password)
            assert len(checked) == before + 1, f"{name}: {len(checked) - before} password checks"
    assert len(set(checked)) == 1, checked


# -- health -------------------------------------------------------------------------------------------------------


def test_public_health_names_no_consumer_and_no_error(app: Flask) -> None:
    with app.extensions["labqueue"].db.session() as session:
        session.add(ConsumerSeen(name="lab-gpu-3-python", runtime="python", host="lab-gpu-3", slots=4, busy=1))
    public = client(app).get("/api/v1/health")
    assert public.status_code == 503  # the store and broker of this test are nowhere
    assert public.json == {
        "status": "degraded",
        "components": {"database": "ok", "object_store": "failing", "broker": "failing", "live_updates": "failing", "consumers": "ok"},
    }
    assert b"lab-gpu-3" not in public.data and b"127.0.0.1" not in public.data
    assert b"lab-gpu-3" not in log_in(app, "alice").get("/api/v1/health").data

    for details in (log_in(app, "root").get("/api/v1/health"), client(app).get("/api/v1/health", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})):
        assert details.json["consumers"][0] | {"last_seen": None} == {
            "name": "lab-gpu-3-python", "runtime": "python", "host": "lab-gpu-3", "slots": 4, "busy": 1,
            "taking_jobs": True, "paused": "", "last_seen": None,
        }
        assert set(details.json["errors"]) == {"object_store", "broker", "live_updates"}
