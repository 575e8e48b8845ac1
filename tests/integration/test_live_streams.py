"""Live streams for a whole lab on the real stack: many open at once without starving the API, each hearing its
user's jobs end and nobody else's, the per-user cap, resuming with Last-Event-ID, and carrying on when the web
process holding a stream dies."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests.conftest import TERMINAL, ApiUser, Process, make_user, make_zip, start_web
from webapp.api.events import NEW_JOB_MARGIN

USERS = 10
STREAMS_PER_USER = 20  # the default cap: 10 x 20 = 200 open streams
QUICK_JOB = make_zip({"code.py": "print('done')\n"})


class RawStream:
    """One open /api/v1/events connection on a bare socket, so hundreds fit in one test without a thread each."""

    def __init__(self, base_url: str, user: ApiUser, last_event_id: int | None = None) -> None:
        parts = urlsplit(base_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        self.sock.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {user.token}\r\n"
            f"Accept: text/event-stream\r\n{resume}\r\n".encode()
        )
        self.user = user
        self.text = ""

    def read(self, timeout: float = 30) -> None:
        """Whatever has arrived, waiting up to ``timeout`` for the first byte."""
        self.sock.settimeout(timeout)
        self.text += self.sock.recv(65536).decode(errors="replace")

    def status_line(self) -> str:
        while "\r\n" not in self.text:
            self.read()
        return self.text.split("\r\n", 1)[0]

    def job_states(self) -> dict[str, str]:
        """The newest status of every job this stream was told about."""
        states = {}
        for line in self.text.splitlines():
            if line.startswith("data:") and (found := re.search(r'"id":"([0-9a-f]{32})"', line)):
                status = re.search(r'"status":"([a-z_]+)"', line)
                if status:
                    states[found.group(1)] = status.group(1)
        return states

    def last_id(self) -> int:
        return int(re.findall(r"^id: (\d+)$", self.text, re.MULTILINE)[-1])

    def close(self) -> None:
        self.sock.close()


def read_until(streams: list[RawStream], done, timeout: float = 180) -> None:
    """Read every stream (one selector, no thread each) until ``done(stream)`` holds for all of them."""
    waiting = {stream.sock.fileno(): stream for stream in streams if not done(stream)}
    selector = selectors.DefaultSelector()
    for stream in waiting.values():
        stream.sock.setblocking(False)
        selector.register(stream.sock, selectors.EVENT_READ, stream)
    deadline = time.monotonic() + timeout
    try:
        while waiting:
            assert time.monotonic() < deadline, f"{len(waiting)} of {len(streams)} streams did not hear it in {timeout} s"
            for key, _ in selector.select(timeout=1):
                stream = key.data
                chunk = stream.sock.recv(65536)
                assert chunk, f"a stream of {stream.user.name} ended early: {stream.text[-500:]}"
                stream.text += chunk.decode(errors="replace")
                if done(stream):
                    selector.unregister(stream.sock)
                    del waiting[stream.sock.fileno()]
    finally:
        selector.close()


@pytest.fixture
def lab(test_env, live_server, python_consumer) -> list[ApiUser]:
    return [make_user(test_env, live_server) for _ in range(USERS)]


@pytest.fixture
def open_streams(lab: list[ApiUser], live_server: str) -> Iterator[list[RawStream]]:
    streams = [RawStream(live_server, user) for user in lab for _ in range(STREAMS_PER_USER)]
    try:
        yield streams
    finally:
        for stream in streams:
            stream.close()


def test_two_hundred_open_streams_leave_the_api_answering_and_each_hears_only_its_users_jobs_end(
    lab: list[ApiUser], open_streams: list[RawStream], live_server: str
) -> None:
    assert {stream.status_line() for stream in open_streams} == {"HTTP/1.1 200 OK"}

    answers = [requests.get(f"{live_server}/api/v1/jobs", headers=user.headers, timeout=10) for user in lab for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200] * len(answers)

    jobs = {}
    for user in lab:
        response = user.submit(QUICK_JOB)
        assert response.status_code == 201, response.text
        jobs[user.name] = response.json()["id"]
    read_until(open_streams, lambda stream: stream.job_states().get(jobs[stream.user.name]) in TERMINAL)

    for stream in open_streams:
        assert set(stream.job_states()) == {jobs[stream.user.name]}, "a stream heard of another user's job"
        assert stream.job_states()[jobs[stream.user.name]] == "succeeded"


def test_past_the_per_user_cap_a_stream_is_refused_with_429(lab: list[ApiUser], open_streams, live_server: str) -> None:
    assert {stream.status_line() for stream in open_streams} == {"HTTP/1.1 200 OK"}

    refused = requests.get(f"{live_server}/api/v1/events", headers=lab[0].headers, timeout=10)

    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_streams"


def test_a_stream_resumed_with_last_event_id_gets_the_job_that_ended_while_it_was_away(
    test_env, live_server, python_consumer
) -> None:
    user = make_user(test_env, live_server)
    away = RawStream(live_server, user)
    read_until([away], lambda stream: "id: " in stream.text)
    seen = away.last_id()
    away.close()

    job = user.submit(QUICK_JOB).json()["id"]
    assert user.wait(job)["status"] == "succeeded"
    time.sleep(NEW_JOB_MARGIN.total_seconds() + 1)  # no longer a "new job" that every first state includes anyway

    fresh, resumed = RawStream(live_server, user), RawStream(live_server, user, last_event_id=seen)
    read_until([fresh, resumed], lambda stream: "id: " in stream.text)
    read_until([resumed], lambda stream: job in stream.job_states(), timeout=30)
    try:
        assert job not in fresh.job_states()
        assert resumed.job_states()[job] == "succeeded"
    finally:
        fresh.close()
        resumed.close()


def test_when_the_web_process_holding_a_stream_dies_the_client_carries_on_at_another(
    test_env, log_dir, python_consumer
) -> None:
    first, first_url = start_web(test_env, log_dir, name="web-doomed")
    second, second_url = start_web(test_env, log_dir, name="web-survivor")
    try:
        user = make_user(test_env, second_url)
        stream = RawStream(first_url, user)
        read_until([stream], lambda s: "id: " in s.text)
        seen = stream.last_id()

        job = user.submit(QUICK_JOB).json()["id"]
        kill(first)
        assert user.wait(job)["status"] == "succeeded"

        again = RawStream(second_url, user, last_event_id=seen)
        read_until([again], lambda s: again.job_states().get(job) == "succeeded", timeout=30)
        again.close()
        stream.close()
    finally:
        kill(first)
        second.stop()


def test_a_fresh_web_reports_live_updates_ok_from_its_first_answer(test_env, log_dir) -> None:
    """Each worker subscribes before it serves (gunicorn's post_worker_init): no answer says live updates fail while a
    worker's subscription is still coming up."""
    web, url = start_web(test_env, log_dir, name="web-fresh")
    try:
        reports = []
        for _ in range(8):  # fresh connections, spread over both workers
            with requests.Session() as session:
                reports.append(session.get(f"{url}/api/v1/health", timeout=10).json()["components"]["live_updates"])
        assert reports == ["ok"] * len(reports)
    finally:
        web.stop()


def test_when_the_worker_holding_a_cli_stream_dies_the_cli_reconnects_and_reports_the_end(
    test_env, log_dir, python_consumer, tmp_path
) -> None:
    """`make up`'s case: one gunicorn, several workers. `labqueue submit --wait` follows its job on a stream; the
    worker holding that stream is killed; the CLI reconnects (to another worker, with Last-Event-ID) and exits 0 when
    the job ends."""
    web, url = start_web(test_env, log_dir, name="web-worker-dies")
    try:
        user = make_user(test_env, url)
        project = tmp_path / "slow.zip"
        project.write_bytes(make_zip({"code.py": "import time\ntime.sleep(15)\nprint('done')\n"}))
        tree = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LABQUEUE_URL": url, "LABQUEUE_TOKEN": user.token, **tree}
        cli = subprocess.Popen(
            [str(Path(sys.executable).parent / "labqueue"), "submit", str(project), "--wait"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            job_id = cli.stdout.readline().strip()
            user.wait(job_id, until={"running"}, timeout=120)  # the CLI follows it on its stream by now
            holder = stream_holder(web, cli.pid, int(urlsplit(url).port))
            os.kill(holder, signal.SIGKILL)
            _, err = cli.communicate(timeout=180)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        assert cli.returncode == 0, err
        assert "event stream lost" in err, err  # it was this CLI's stream that died
        assert f"{job_id} succeeded" in err
        assert not psutil.pid_exists(holder) or psutil.Process(holder).status() == psutil.STATUS_ZOMBIE
        assert user.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded"
    finally:
        web.stop()


def stream_holder(web: Process, client_pid: int, port: int, timeout: float = 30) -> int:
    """The gunicorn worker holding the client's connection to ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client_ports = {
            c.laddr.port for c in psutil.Process(client_pid).net_connections("tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
        }
        for worker in psutil.Process(web.popen.pid).children():
            if any(c.laddr.port == port and c.raddr and c.raddr.port in client_ports for c in worker.net_connections("tcp")):
                return worker.pid
        time.sleep(0.2)
    raise AssertionError("no worker holds the client's connection")


def kill(process: Process) -> None:
    """The whole gunicorn, master and workers, gone at once, as in a crash."""
    if process.popen.poll() is None:
        workers = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and parent_of(pid) == process.popen.pid]
        for pid in [process.popen.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.popen.wait()
    process.stop()


def parent_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
