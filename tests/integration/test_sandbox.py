"""The sandbox, rule by rule, against the real Docker engine: each job probes its own box and reports."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import (
    TERMINAL,
    ApiUser,
    isolated_env,
    make_user,
    make_zip,
    read_zip,
    start_consumer,
    start_producer,
    start_web,
)

PROBE = r"""
import ctypes, json, os, socket
from pathlib import Path

def attempt(fn):
    try:
        fn()
        return "allowed"
    except OSError as exc:
        return type(exc).__name__

def write(path):
    return lambda: Path(path).write_text("x")

def resolve():
    socket.getaddrinfo("example.org", 443)

def connect():
    socket.create_connection(("1.1.1.1", 53), timeout=2)

report = {
    "uid": os.getuid(),
    "gid": os.getgid(),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "dns": attempt(resolve),
    "connect": attempt(connect),
    "write_etc": attempt(write("/etc/labqueue-probe")),
    "write_usr": attempt(write("/usr/labqueue-probe")),
    "write_venv": attempt(write("/opt/venv/labqueue-probe")),
    "write_root": attempt(write("/labqueue-probe")),
    "write_tmp": attempt(write("/tmp/labqueue-probe")),
    "write_job": attempt(write("/job/labqueue-probe")),
    "capabilities": [line.split()[1] for line in open("/proc/self/status") if line.startswith(("CapEff", "CapBnd"))],
    "no_new_privs": ctypes.CDLL(None, use_errno=True).prctl(39, 0, 0, 0, 0),  # PR_GET_NO_NEW_PRIVS
    "env": {key: os.environ.get(key) for key in ("HOME", "MPLBACKEND", "LABQUEUE_DATASETS", "LABQUEUE_JOB_ID")},
    "cwd": os.getcwd(),
}
Path("output").mkdir(exist_ok=True)
Path("output/report.json").write_text(json.dumps(report))
"""


@dataclass
class Sandbox:
    user: ApiUser
    container_runtime: str


@pytest.fixture(scope="module", params=["runc", "runsc"])
def sandbox(request: pytest.FixtureRequest, test_env, log_dir, tmp_path_factory) -> Iterator[Sandbox]:
    """Every rule holds under both container runtimes: runc, and gVisor's runsc (a whole stack of its own)."""
    if request.param == "runc":
        url = request.getfixturevalue("live_server")
        request.getfixturevalue("python_consumer")
        yield Sandbox(make_user(test_env, url), "runc")
        return
    with isolated_env(test_env, tmp_path_factory.mktemp("gvisor"), LABQUEUE_CONTAINER_RUNTIME="runsc") as env:
        processes = [start_producer(env, log_dir, "producer-gvisor"), start_consumer(env, log_dir, "python", slots=2)]
        web, url = start_web(env, log_dir, "web-gvisor")
        processes.append(web)
        try:
            yield Sandbox(make_user(env, url), "runsc")
        finally:
            for process in processes:
                process.stop()


@pytest.fixture(scope="module")
def probe(sandbox: Sandbox) -> dict:
    user = sandbox.user
    job = user.wait(user.submit(make_zip({"code.py": PROBE})).json()["id"])
    assert job["status"] == "succeeded", user.get(f"/api/v1/jobs/{job['id']}/log").text
    report = json.loads(read_zip(user.get(f"/api/v1/jobs/{job['id']}/output").content)["report.json"])
    report["job"] = job
    return report


def test_runs_under_the_configured_container_runtime(probe: dict, sandbox: Sandbox) -> None:
    assert probe["job"]["container_runtime"] == sandbox.container_runtime


def test_no_network_but_loopback(probe: dict) -> None:
    assert probe["interfaces"] == ["lo"]
    assert probe["dns"] != "allowed"
    assert probe["connect"] != "allowed"


def test_runs_as_the_unprivileged_job_user(probe: dict) -> None:
    assert (probe["uid"], probe["gid"]) == (1000, 1000)


def test_root_filesystem_is_read_only(probe: dict) -> None:
    for place in ("write_etc", "write_usr", "write_venv", "write_root"):
        assert probe[place] != "allowed", place
    assert probe["write_tmp"] == "allowed"
    assert probe["write_job"] == "allowed"


def test_no_capabilities_and_no_new_privileges(probe: dict) -> None:
    assert probe["capabilities"] == ["0000000000000000", "0000000000000000"]
    assert probe["no_new_privs"] == 1


def test_job_environment(probe: dict) -> None:
    assert probe["cwd"] == "/job"
    assert probe["env"] == {"HOME": "/tmp", "MPLBACKEND": "Agg", "LABQUEUE_DATASETS": "/data", "LABQUEUE_JOB_ID": probe["job"]["id"]}


FORK_BOMB = """
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as exc:
    print(f"fork refused after {children} children: {type(exc).__name__}", flush=True)
"""


def test_fork_bomb_is_contained_and_the_next_job_runs(sandbox: Sandbox) -> None:
    user = sandbox.user
    bomb = user.wait(user.submit(make_zip({"code.py": FORK_BOMB}), time_limit="15").json()["id"])
    log = user.get(f"/api/v1/jobs/{bomb['id']}/log").text
    if sandbox.container_runtime == "runc":
        assert "fork refused after" in log
        assert int(log.split("fork refused after ")[1].split()[0]) < 256
    else:
        # Under gVisor the pids limit bounds the sandbox's own host threads: the bomb brings its sandbox down.
        assert bomb["status"] in ("failed", "succeeded"), bomb
    after = user.wait(user.submit(make_zip({"code.py": "print('still fine')"})).json()["id"])
    assert after["status"] == "succeeded"


FILL_DISK = r"""
import errno, os, time
written, block = 0, b"x" * 2**20
try:
    with open("/job/big", "wb") as file:
        while written < 1024 * 2**20:
            file.write(block)
            file.flush()
            written += len(block)
    print(f"no error after {written // 2**20} MiB", flush=True)
except OSError as exc:
    print(f"write failed: {errno.errorcode[exc.errno]} after {written // 2**20} MiB", flush=True)
time.sleep(4)  # keep what was written while the test reads the host's disk
"""


def _host_used_bytes() -> int:
    stats = os.statvfs("/var/lib/docker")
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def test_job_disk_is_bounded_and_the_host_untouched(sandbox: Sandbox) -> None:
    """1 GiB written under /job with disk_limit=256: the job sees a full disk, the host's disk barely moves."""
    user = sandbox.user
    before = _host_used_bytes()
    job_id = user.submit(make_zip({"code.py": FILL_DISK}), disk_limit="256").json()["id"]
    peak = before
    while (job := user.get(f"/api/v1/jobs/{job_id}").json())["status"] not in TERMINAL:
        peak = max(peak, _host_used_bytes())
        time.sleep(0.2)
    log = user.get(f"/api/v1/jobs/{job_id}/log").text
    assert re.search(r"write failed: (ENOSPC|EDQUOT) after \d+ MiB", log), log
    assert int(log.split(" after ")[1].split()[0]) <= 256
    assert peak - before < 300 * 2**20, f"the host's used disk grew by {(peak - before) / 2**20:.0f} MiB"
    assert job["disk_limit"] == 256
    after = user.wait(user.submit(make_zip({"code.py": "open('/job/small', 'w').write('x' * 10**6); print('still fine')"})).json()["id"])
    assert after["status"] == "succeeded", after
    assert after["disk_limit"] == 4096  # the default
