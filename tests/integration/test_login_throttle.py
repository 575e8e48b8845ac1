"""Login throttling against gunicorn with several workers, as `make up` and compose run the web: the counters are
shared by every worker (an in-memory limiter would count per process and let through workers x the limit), clients
at different addresses are told apart (loopback has 127.0.0.0/8 to connect from), and the owner of an account
strangers hammer gets in once the window passed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.admin_helpers import start_gunicorn
from tests.conftest import ApiUser, Process, make_user
from tests.web import csrf_token

WORKERS = "4"
PER_ADDRESS = 4
PER_ACCOUNT = 3
ACCOUNT_WINDOW_SECONDS = 5


class FromAddress(HTTPAdapter):
    """Connections from one loopback address, as a client on another machine would come from its own."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def attempt(url: str, address: str, name: str, password: str) -> requests.Response:
    """One login through the form, from ``address``, on fresh connections (so any worker may answer each)."""
    with requests.Session() as browser:
        browser.mount("http://", FromAddress(address))
        page = browser.get(url + "/login", timeout=30)
        return browser.post(
            url + "/login", data={"csrf_token": csrf_token(page.text), "name": name, "password": password}, timeout=30, allow_redirects=False
        )


@pytest.fixture(scope="module")
def throttled_web(test_env: dict[str, str], log_dir, producer: Process) -> Iterator[str]:
    env = {
        **test_env,
        "LABQUEUE_LOGIN_RATE_PER_ADDRESS": f"{PER_ADDRESS}/minute",
        "LABQUEUE_LOGIN_RATE_PER_ACCOUNT": f"{PER_ACCOUNT}/{ACCOUNT_WINDOW_SECONDS} seconds",
    }
    process, url = start_gunicorn(env, log_dir, "web-throttled", ["--workers", WORKERS])
    yield url
    process.stop()


@pytest.fixture
def account(test_env: dict[str, str], throttled_web: str) -> ApiUser:
    return make_user(test_env, throttled_web)


def test_wrong_passwords_from_one_address_get_429_across_all_workers(throttled_web: str, test_env: dict[str, str]) -> None:
    names = [make_user(test_env, throttled_web).name for _ in range(PER_ADDRESS + 1)]  # one try each: no account limit
    statuses = [attempt(throttled_web, "127.0.0.21", name, "wrong password").status_code for name in names]
    assert statuses == [200] * PER_ADDRESS + [429]

    refused = attempt(throttled_web, "127.0.0.21", names[0], "wrong again")
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60


def test_wrong_passwords_for_one_account_get_429_from_any_address_and_the_owner_gets_in_after(throttled_web: str, account: ApiUser) -> None:
    statuses = [attempt(throttled_web, f"127.0.0.{31 + i}", account.name, "wrong password").status_code for i in range(PER_ACCOUNT + 1)]
    assert statuses == [200] * PER_ACCOUNT + [429]
    during = attempt(throttled_web, "127.0.0.40", account.name, account.password)
    assert during.status_code == 429 and 1 <= int(during.headers["Retry-After"]) <= ACCOUNT_WINDOW_SECONDS + 1

    time.sleep(ACCOUNT_WINDOW_SECONDS + 1)
    after = attempt(throttled_web, "127.0.0.40", account.name, account.password)
    assert after.status_code == 302 and after.headers["Location"] == "/jobs"


def test_an_address_being_throttled_stops_nobody_else(throttled_web: str, account: ApiUser, test_env: dict[str, str]) -> None:
    for _ in range(PER_ADDRESS + 1):
        attempt(throttled_web, "127.0.0.51", make_user(test_env, throttled_web).name, "wrong password")
    assert attempt(throttled_web, "127.0.0.51", account.name, account.password).status_code == 429
    assert attempt(throttled_web, "127.0.0.52", account.name, account.password).status_code == 302
