"""The sandbox, rule by rule, against the real Docker engine: each job probes its own box and reports."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ApiUser, make_user, make_zip, read_zip

PROBE = r"""
import json, os, socket
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
    "no_new_privs": [line.split()[1] for line in open("/proc/self/status") if line.startswith("NoNewPrivs")],
    "env": {key: os.environ.get(key) for key in ("HOME", "MPLBACKEND", "LABQUEUE_DATASETS", "LABQUEUE_JOB_ID")},
    "cwd": os.getcwd(),
}
Path("output").mkdir(exist_ok=True)
Path("output/report.json").write_text(json.dumps(report))
"""


@pytest.fixture(scope="module")
def probe(user: ApiUser, python_consumer) -> dict:
    job = user.wait(user.submit(make_zip({"code.py": PROBE})).json()["id"])
    assert job["status"] == "succeeded", user.get(f"/api/v1/jobs/{job['id']}/log").text
    report = json.loads(read_zip(user.get(f"/api/v1/jobs/{job['id']}/output").content)["report.json"])
    report["job"] = job
    return report


@pytest.fixture(scope="module")
def user(test_env, live_server) -> ApiUser:
    return make_user(test_env, live_server)


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
    assert probe["no_new_privs"] == ["1"]


def test_job_environment(probe: dict) -> None:
    assert probe["cwd"] == "/job"
    assert probe["env"] == {"HOME": "/tmp", "MPLBACKEND": "Agg", "LABQUEUE_DATASETS": "/data", "LABQUEUE_JOB_ID": probe["job"]["id"]}
    assert probe["job"]["container_runtime"] in ("runc", "runsc")


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


def test_fork_bomb_is_contained_and_the_next_job_runs(user: ApiUser, python_consumer) -> None:
    bomb = user.wait(user.submit(make_zip({"code.py": FORK_BOMB}), time_limit="15").json()["id"])
    log = user.get(f"/api/v1/jobs/{bomb['id']}/log").text
    assert "fork refused after" in log
    children = int(log.split("fork refused after ")[1].split()[0])
    assert children < 256
    after = user.wait(user.submit(make_zip({"code.py": "print('still fine')"})).json()["id"])
    assert after["status"] == "succeeded"
