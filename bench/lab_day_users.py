"""The lab's-day load test's simulated researcher (a Locust user) and the live streams its pages hold open.

A researcher logs in with the browser's form, keeps the results page open (its event stream, reopened with
Last-Event-ID whenever it ends, as EventSource does) and every 30-60 s submits a small job as the upload page's script
does, opens the job's page (a second stream, following its log), waits there until the job's end is heard, reads its
log, downloads its output and lists their jobs. Each stream notes when it first heard each job's final state, for the
delivery figures; the run's driver (bench.lab_day) reads them after the run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import gevent
import gevent.event
import requests
from locust import HttpUser, between, task
from locust.clients import HttpSession

from bench.common import TERMINAL, project_zip
from client.api import parse_events

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
# A small analysis: a few lines of log, a CSV in output/.
SMALL_JOB = project_zip(
    "import os\nos.makedirs('output', exist_ok=True)\n"
    "rows = [f'{i},{i * i}' for i in range(100)]\n"
    "open('output/result.csv', 'w').write('t,value\\n' + '\\n'.join(rows) + '\\n')\n"
    "print('wrote', len(rows), 'rows')\n"
)
END_HEARD_TIMEOUT = 180.0  # seconds a job page waits for its job's end before that counts as a failure
RETRY_SECONDS = 2.0  # the retry the server's streams announce; EventSource waits this long before reconnecting
STREAM_READ_TIMEOUT = 60.0
LOGIN_TRIES = 5  # heartbeats come every 15 s: a stream silent for this long is broken


@dataclass
class Credentials:
    name: str
    password: str


@dataclass
class Lab:
    """What the driver hands the users (their accounts) and reads back (their streams), shared in one process."""

    accounts: list[Credentials] = field(default_factory=list)
    streams: list[LiveStream] = field(default_factory=list)
    submitted: dict[str, str] = field(default_factory=dict)  # job id -> user name, as the researchers submitted them


LAB = Lab()


class LiveStream:
    """One page's /api/v1/events, read in a greenlet of its own until closed; reconnects as a browser does."""

    def __init__(self, client: HttpSession, user: str, page: str, query: str = "") -> None:
        self.client, self.user, self.page, self.query = client, user, page, query
        self.heard: dict[str, float] = {}  # job id -> when its final state first arrived (epoch seconds)
        self.opened_at: float | None = None
        self.closed_at: float | None = None
        self.reconnects = 0
        self.changed = gevent.event.Event()
        self.opened = gevent.event.Event()
        self._last_id: list[str] = []
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            headers = {"Accept": "text/event-stream"}
            if self._last_id:
                headers["Last-Event-ID"] = self._last_id[0]
            response = self.client.get(  # reported at once, with the time to the first byte; a refusal fails
                f"/api/v1/events{self.query}", headers=headers, stream=True, timeout=(10, STREAM_READ_TIMEOUT),
                name=f"GET /api/v1/events ({self.page}, first byte)",
            )
            try:
                if response.status_code == 200:
                    if self.opened_at is None:
                        self.opened_at = time.time()
                    self.opened.set()
                    response.encoding = "utf-8"
                    self._read(parse_events(response.iter_lines(chunk_size=None, decode_unicode=True), self._last_id))
            except requests.RequestException as exc:
                self.client.request_event.fire(
                    request_type="SSE", name=f"stream broke ({self.page})", response_time=0, response_length=0,
                    exception=exc, context={},
                )
            finally:
                if response.raw is not None:  # None when the connection failed (Locust's stand-in response)
                    response.close()
            self.reconnects += 1
            gevent.sleep(RETRY_SECONDS)

    def _read(self, events: Iterator[tuple[str, dict]]) -> None:
        for name, data in events:
            if name == "job" and data.get("status") in TERMINAL and data["id"] not in self.heard:
                self.heard[data["id"]] = time.time()
                self.changed.set()

    def wait_heard(self, job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while job_id not in self.heard:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            self.changed.wait(min(left, 5))
        return True

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.time()
            self._greenlet.kill(block=False)


class Researcher(HttpUser):
    """One researcher in a browser: session login, the results page open all day, a small job every 30-60 s."""

    wait_time = between(30, 60)

    def on_start(self) -> None:
        self.account = LAB.accounts.pop(0)
        for _ in range(LOGIN_TRIES):  # a researcher whose login broke off tries again (each failure still counts)
            page = self.client.get("/login", name="GET /login")
            with self.client.post(
                "/login", data={"name": self.account.name, "password": self.account.password, "csrf_token": _csrf(page.text)},
                allow_redirects=False, name="POST /login", catch_response=True,
            ) as response:
                if response.status_code == 302:
                    break
                response.failure(f"login refused: {response.status_code}")
            gevent.sleep(RETRY_SECONDS)
        self.client.get("/jobs", name="GET /jobs (results page)")
        self.results = LiveStream(self.client, self.account.name, "results page")
        LAB.streams.append(self.results)
        self.results.opened.wait(30)

    @task
    def analyse(self) -> None:
        upload = self.client.get("/upload", name="GET /upload")
        with self.client.post(
            "/api/v1/jobs", files={"file": ("analysis.zip", SMALL_JOB)}, name="POST /api/v1/jobs",
            headers={"Accept": "application/json", "X-CSRFToken": _csrf(upload.text)}, catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"submission refused: {response.status_code} {response.text[:200]}")
                return
            job_id = response.json()["id"]
        LAB.submitted[job_id] = self.account.name
        self.client.get(f"/jobs/{job_id}", name="GET /jobs/[id] (job page)")
        job_page = LiveStream(self.client, self.account.name, "job page", f"?job={job_id}&log={job_id}")
        LAB.streams.append(job_page)
        try:
            if not job_page.wait_heard(job_id, END_HEARD_TIMEOUT):
                self.environment.events.request.fire(
                    request_type="SSE", name="job end heard on its page", response_time=END_HEARD_TIMEOUT * 1000,
                    response_length=0, exception=TimeoutError(f"job {job_id}'s end not heard"), context={},
                )
                return
            self.client.get(f"/api/v1/jobs/{job_id}/log", name="GET /api/v1/jobs/[id]/log")
            self.client.get(f"/api/v1/jobs/{job_id}/output", name="GET /api/v1/jobs/[id]/output")
        finally:
            job_page.close()
        self.client.get("/api/v1/jobs", name="GET /api/v1/jobs")
        self.client.get("/jobs", name="GET /jobs (results page)")


def _csrf(page: str) -> str:
    found = CSRF.search(page)
    return found.group(1) if found else ""
