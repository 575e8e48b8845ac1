"""The environment build is a sandboxed step of the job: a hostile package's build code, run on the real Docker
engine, finds the job's user and limits, no capabilities, and no way out but the proxy to the package index."""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest

from consumer.sandbox import LABEL_JOB
from tests.conftest import (
    ApiUser,
    free_port,
    isolated_env,
    leftovers,
    make_user,
    make_zip,
    read_zip,
    start_consumer,
    start_producer,
    start_web,
)
from tests.package_index import INDEX_PORT, PackageIndex, sdist_bytes


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def source_builds(test_env, log_dir, tmp_path_factory) -> Iterator[ApiUser]:
    """A stack of its own whose consumer allows source builds (LABQUEUE_BUILD_ALLOW_SOURCE=1), for these tests only."""
    with isolated_env(test_env, tmp_path_factory.mktemp("source-builds"), LABQUEUE_BUILD_ALLOW_SOURCE="1") as env:
        processes = [start_producer(env, log_dir, "producer-source"), start_consumer(env, log_dir, "python", slots=2)]
        web, url = start_web(env, log_dir, "web-source")
        processes.append(web)
        try:
            yield make_user(env, url)
        finally:
            for process in processes:
                process.stop()


@dataclass
class Listener:
    """A TCP listener on every address of the host (the consumer's host), counting who got through to it."""

    port: int
    accepted: list[str]


@pytest.fixture
def host_listener() -> Iterator[Listener]:
    server = socket.create_server(("0.0.0.0", free_port()))
    listener = Listener(server.getsockname()[1], [])

    def accept() -> None:
        while True:
            try:
                connection, peer = server.accept()
            except OSError:
                return
            listener.accepted.append(peer[0])
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    yield listener
    server.close()


def host_addresses() -> list[str]:
    """Every IPv4 address of this host but loopback: its own, and its Docker bridges' gateways."""
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True)
    return [info["local"] for link in json.loads(shown.stdout) for info in link.get("addr_info", [])]


# Runs in the package's build backend, inside the build: what the sandbox looks like from there, and every way out
# it can think of. TARGETS and the proxy check's HOST and PORT are filled in by the test.
PROBE_BUILD = r"""
import os, socket, urllib.parse
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
report["uid"] = os.getuid()
report["cap_eff"] = status["CapEff"].strip()
report["no_new_privs"] = status["NoNewPrivs"].strip()
targets = TARGETS
for line in open("/proc/net/route").read().splitlines()[1:]:
    fields = line.split()
    if fields[1] == "00000000":
        targets = targets + [["the build network's gateway", socket.inet_ntoa(bytes.fromhex(fields[2])[::-1]), PORT]]
results = {}
for what, host, port in targets:
    try:
        socket.create_connection((host, port), timeout=3).close()
        results[f"{what} {host}:{port}"] = "connected"
    except OSError as exc:
        results[f"{what} {host}:{port}"] = f"{type(exc).__name__}: {exc}"
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
tunnel = socket.create_connection((proxy.hostname, proxy.port), timeout=5)
tunnel.sendall(f"CONNECT {HOST}:{PORT} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n\r\n".encode())
results["the proxy, asked for the host"] = tunnel.recv(200).split(b"\r\n")[0].decode()
report["connections"] = results
"""

USES_BUILD_PROBE = """
import json, pathlib
import labqueue_probe, {module}
pathlib.Path("output").mkdir(exist_ok=True)
pathlib.Path("output/report.json").write_text(json.dumps({{"build": json.loads({module}.REPORT), "answer": labqueue_probe.ANSWER}}))
"""


def gateway_of(network) -> str:
    """The network's gateway: as its IPAM config names it, else the subnet's first address, which Docker then takes
    (some dockerd versions leave Gateway out of the default bridge's config)."""
    config = network.attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def test_a_source_build_runs_sandboxed_and_reaches_nothing_but_the_index(
    source_builds: ApiUser, package_index: PackageIndex, host_listener: Listener, docker_client: docker.DockerClient
) -> None:
    host = host_addresses()
    bridge_gateway = gateway_of(docker_client.networks.get("bridge"))
    targets = [["the Docker bridge gateway", bridge_gateway, host_listener.port]]
    targets += [["the consumer's host", address, host_listener.port] for address in host]
    targets += [["the index, not through the proxy", package_index.address, INDEX_PORT]]
    code = f"TARGETS = {targets!r}\nHOST, PORT = {host[0]!r}, {host_listener.port}\n" + PROBE_BUILD
    name = f"labqueue-buildprobe-{secrets.token_hex(3)}"
    package_index.add(name, *sdist_bytes(name, "1.0", code, requires=("labqueue-probe",)))

    module = name.replace("-", "_")
    project = make_zip({"code.py": USES_BUILD_PROBE.format(module=module), "requirements.txt": f"{name}==1.0\n"})
    job = source_builds.wait(source_builds.submit(project).json()["id"], timeout=300)
    log = source_builds.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "succeeded", log
    report = json.loads(read_zip(source_builds.get(f"/api/v1/jobs/{job['id']}/output").content)["report.json"])
    build = report["build"]
    assert build["uid"] == 1000, build
    assert build["cap_eff"] == "0000000000000000" and build["no_new_privs"] == "1", build
    connections = build["connections"]
    assert any(what.startswith("the build network's gateway") for what in connections), connections
    assert not [what for what, outcome in connections.items() if outcome == "connected"], connections
    assert connections["the proxy, asked for the host"].split()[1] == "403", connections
    assert host_listener.accepted == [], "the build reached the host's listener"
    assert report["answer"] == 42, "the build installed its dependency from the index"


def sleeper(package_index: PackageIndex) -> str:
    """A package whose build sleeps for ten minutes: only its job's time limit or a cancel ends it."""
    name = f"labqueue-sleeper-{secrets.token_hex(3)}"
    package_index.add(name, *sdist_bytes(name, "1.0", "import time\ntime.sleep(600)\n"))
    return f"{name}==1.0\n"


def build_containers(client: docker.DockerClient, job_id: str) -> list:
    return [c for c in client.containers.list(all=True, filters={"label": f"{LABEL_JOB}={job_id}"}) if c.name.startswith("labqueue-build-")]


def test_a_build_past_the_time_limit_ends_timed_out_and_leaves_nothing(
    source_builds: ApiUser, package_index: PackageIndex, docker_client: docker.DockerClient
) -> None:
    project = make_zip({"code.py": "print('never runs')", "requirements.txt": sleeper(package_index)})
    job_id = source_builds.submit(project, time_limit="8").json()["id"]
    job = source_builds.wait(job_id, timeout=120)
    assert job["status"] == "timed_out", job
    assert "building the environment" in job["reason"]
    assert "never runs" not in source_builds.get(f"/api/v1/jobs/{job_id}/log").text
    assert leftovers(docker_client, {"label": f"{LABEL_JOB}={job_id}"}) == []


def test_cancel_during_a_build_ends_it_at_once_and_leaves_nothing(
    source_builds: ApiUser, package_index: PackageIndex, docker_client: docker.DockerClient
) -> None:
    project = make_zip({"code.py": "print('never runs')", "requirements.txt": sleeper(package_index)})
    job_id = source_builds.submit(project).json()["id"]
    deadline = time.monotonic() + 120
    while not [c for c in build_containers(docker_client, job_id) if c.status == "running"]:
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.2)
    time.sleep(2)  # pip is well into the build backend by now
    asked = time.monotonic()
    assert source_builds.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202
    job = source_builds.wait(job_id, timeout=30)
    took = time.monotonic() - asked
    assert job["status"] == "cancelled", job
    assert job["reason"] == "cancelled while building the environment", f"{job['reason']} ({took:.1f} s after the cancel)"
    assert leftovers(docker_client, {"label": f"{LABEL_JOB}={job_id}"}) == []


def test_wheels_only_by_default_an_sdist_only_package_fails_the_build_saying_why(
    user: ApiUser, python_consumer, package_index: PackageIndex
) -> None:
    name = f"labqueue-sdist-only-{secrets.token_hex(3)}"
    package_index.add(name, *sdist_bytes(name, "1.0", "raise SystemExit('source builds are off: this must never run')\n"))
    job = user.wait(user.submit(make_zip({"code.py": "print('never runs')", "requirements.txt": f"{name}==1.0\n"})).json()["id"])
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "failed", log
    assert "requirements.txt" in job["reason"] and "wheels" in job["reason"], job["reason"]
    assert name in log and "must never run" not in log and "never runs" not in log
