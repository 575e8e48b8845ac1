"""A labqueue of a benchmark's own on the running services: its vhost, bucket, database, producer, consumer and web."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from bench.common import Client
from bench.isolated import ROOT, isolated_env

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def _vhost(env: dict[str, str]) -> Iterator[None]:
    url = urlsplit(env["LABQUEUE_BROKER_URL"])
    name = f"labqueue-bench-{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, url.username or "labqueue", ".*", ".*", ".*")
    env["LABQUEUE_BROKER_URL"] = urlunsplit(url._replace(path="/" + name))
    try:
        yield
    finally:
        _rabbitmqctl("delete_vhost", name)


@dataclass
class Stack:
    client: Client
    env: dict[str, str]
    web_pids: list[int]
    password: str
    pids: dict[str, int]  # each process started, by name: web (gunicorn's master), producer, consumer-N


@contextlib.contextmanager
def private_stack(slots: int, web_workers: int = 4, consumers: int = 1, access_log: bool = False, **settings: str) -> Iterator[Stack]:
    """Start producer, consumer(s) of ``slots`` each and gunicorn; yield a client with an admin token. ``access_log``:
    gunicorn writes an access line per request in labqueue's JSON log, as `make up` runs it."""
    with isolated_env() as env, _vhost(env), tempfile.TemporaryDirectory(prefix="labqueue-bench-logs-") as logs:
        env.update(settings)
        env["LABQUEUE_CONSUMER_NAME"] = f"bench-{secrets.token_hex(3)}"
        port = _free_port()
        commands = {"producer": [sys.executable, "-m", "producer"]}
        for index in range(consumers):
            commands[f"consumer-{index}"] = [sys.executable, "-m", "consumer", "--runtime", "python", "--slots", str(slots)]
        commands["web"] = [str(BIN / "gunicorn"), "--config", str(ROOT / "webapp" / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}", "--workers", str(web_workers), "webapp:create_app()"]
        if access_log:
            commands["web"][-1:-1] = ["--access-logfile", "-", "--logger-class", "webapp.weblogging.StructuredLogger"]
        processes = []
        try:
            for name, command in commands.items():
                process_env = {**env, "LABQUEUE_CONSUMER_NAME": f"{env['LABQUEUE_CONSUMER_NAME']}-{name}"}
                log = open(Path(logs) / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process below
                processes.append((subprocess.Popen(command, env=process_env, stdout=log, stderr=subprocess.STDOUT), log))
            url = f"http://127.0.0.1:{port}"
            _wait_http(url + "/login")
            password = secrets.token_urlsafe(12)
            subprocess.run([str(BIN / "labqueue-admin"), "create-user", "bench", "--admin", "--password-stdin"], input=password + "\n", env=env, check=True, capture_output=True, text=True)
            token = subprocess.run([str(BIN / "labqueue-admin"), "create-token", "bench"], env=env, check=True, capture_output=True, text=True).stdout.strip()
            _wait_consumers(url, token, consumers)
            web = next(p for p, _ in processes if p.args == commands["web"])
            children = subprocess.run(["pgrep", "-P", str(web.pid)], check=False, capture_output=True, text=True).stdout.split()
            pids = {name: process.pid for name, (process, _) in zip(commands, processes, strict=True)}
            yield Stack(Client(url, token), env, [web.pid, *map(int, children)], password, pids)
        except BaseException:
            for log_path in sorted(Path(logs).glob("*.log")):
                sys.stderr.write(f"--- {log_path.name}\n{log_path.read_text(errors='replace')[-3000:]}\n")
            raise
        finally:
            for process, log in processes:
                process.terminate()
                process.wait(60)
                log.close()


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _wait_consumers(url: str, token: str, count: int, timeout: float = 60) -> None:
    """Heartbeats come every 10 s: wait until the consumers are taking jobs, as a user would see them."""
    deadline = time.monotonic() + timeout
    admin = {"Authorization": f"Bearer {token}"}  # the consumers in /health are for admins
    while len(requests.get(url + "/api/v1/health", headers=admin, timeout=10).json().get("consumers", [])) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("consumers did not report in")
        time.sleep(0.5)
