"""Live streams: 500 open at once, against gunicorn's gevent worker (today's web) and its gthread worker (the design
before, one thread per open stream), interleaved in the same run.

Per round and design: the web's memory before and with the streams open (growth per stream), GET /api/v1/jobs
p95 with them open (3 s timeout; a timeout counts as 3 s and as failed), and event delivery: for a few jobs, the
time from each job's final state being recorded (its finished_at) to every stream holding it.

Usage: .venv/bin/python -m bench.live_streams [STREAMS] [ROUNDS]   (default 500 2; needs `make up`'s services)
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.common import RESULTS, project_zip
from bench.stack import Stack, private_stack

DESIGNS = ("gevent", "gthread")
JOBS = 3
API_CALLS = 40
API_TIMEOUT = 3.0
DELIVERY_TIMEOUT = 60.0
SUBMIT_TIMEOUT = 30.0
QUICK_JOB = "print('done')\n"


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            total += int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1))
    return total


def web_pids(stack: Stack) -> list[int]:
    """The gunicorn master and its workers as they are now (workers may have been replaced since start)."""
    master = stack.web_pids[0]
    return [master, *(int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and _parent(entry.name) == master)]


def _parent(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def open_streams(url: str, token: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    request = (
        f"GET /api/v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        sock.sendall(request)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def read_streams(
    sockets: list[socket.socket], texts: dict[int, str], arrivals: dict[str, dict[int, float]], seconds: float, done
) -> None:
    """Read every stream for up to ``seconds`` or until ``done()``; ``arrivals``: job id -> stream -> when that
    stream first held the job's final state."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not done():
            for key, _ in selector.select(timeout=0.2):
                try:
                    chunk = key.fileobj.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                texts[key.fileobj.fileno()] = texts.get(key.fileobj.fileno(), "") + chunk.decode(errors="replace")
                for job_id, seen in arrivals.items():
                    if key.fileobj.fileno() not in seen and _ended(texts[key.fileobj.fileno()], job_id):
                        seen[key.fileobj.fileno()] = time.time()
    finally:
        selector.close()


def _ended(text: str, job_id: str) -> bool:
    return any(job_id in line and re.search(r'"status":"(succeeded|failed)"', line) for line in text.splitlines() if line.startswith("data:"))


def api_p95(stack: Stack) -> tuple[float, int]:
    times, failed = [], 0
    for _ in range(API_CALLS):
        started = time.monotonic()
        try:
            ok = requests.get(f"{stack.client.url}/api/v1/jobs", headers=stack.client.headers, timeout=API_TIMEOUT).status_code == 200
        except requests.RequestException:
            ok = False
        times.append(min(time.monotonic() - started, API_TIMEOUT) * 1000)
        failed += not ok
    return statistics.quantiles(times, n=20)[18], failed


def submit(stack: Stack) -> str:
    response = requests.post(
        f"{stack.client.url}/api/v1/jobs", headers=stack.client.headers, files={"file": ("bench.zip", project_zip(QUICK_JOB))},
        timeout=SUBMIT_TIMEOUT,
    )
    response.raise_for_status()
    return response.json()["id"]


def one_round(design: str, streams: int) -> dict:
    settings = {"LABQUEUE_WEB_WORKER_CLASS": design, "LABQUEUE_STREAMS_PER_USER": str(streams * 2)}
    with private_stack(slots=2, **settings) as stack:
        idle_p95, _ = api_p95(stack)
        before = rss_kib(web_pids(stack))
        sockets = open_streams(stack.client.url, stack.client.token, streams)
        texts: dict[int, str] = {}
        arrivals: dict[str, dict[int, float]] = {}
        read_streams(sockets, texts, arrivals, 10, done=lambda: len(texts) >= streams)
        answered = len(texts)
        with_streams = rss_kib(web_pids(stack))
        busy_p95, busy_failed = api_p95(stack)
        finished, submits_failed = {}, 0
        for _ in range(JOBS):
            try:
                job_id = submit(stack)
                job = stack.client.wait(job_id, poll=0.2, timeout=120)
            except (requests.RequestException, TimeoutError):
                submits_failed += 1  # the design before: every thread held by a stream, nothing else is served
                continue
            arrivals[job_id] = {}
            finished[job_id] = datetime.fromisoformat(job["finished_at"]).timestamp()
            read_streams(sockets, texts, arrivals, DELIVERY_TIMEOUT, done=lambda j=job_id: len(arrivals[j]) >= answered)
        delays = [max(0.0, at - finished[job]) * 1000 for job, seen in arrivals.items() for at in seen.values()]
        heard = sum(len(seen) for seen in arrivals.values())
        for sock in sockets:
            sock.close()
    return {
        "design": design, "streams": streams, "streams_answered": answered,
        "api_p95_ms_idle": round(idle_p95, 1), "api_p95_ms": round(busy_p95, 1), "api_failed": busy_failed,
        "delivery_p95_ms": round(statistics.quantiles(delays, n=20)[18], 1) if len(delays) >= 2 else None,
        "deliveries": f"{heard} of {JOBS * streams}",
        "kib_per_stream": round((with_streams - before) / streams, 1), "submits_failed": submits_failed,
    }


def main() -> None:
    streams = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    results = []
    for index in range(rounds):
        for design in DESIGNS if index % 2 == 0 else reversed(DESIGNS):
            row = one_round(design, streams)
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {}
    for design in DESIGNS:
        rows = [r for r in results if r["design"] == design]
        summary[design] = {
            key: statistics.median(r[key] for r in rows) if all(r[key] is not None for r in rows) else None
            for key in ("streams_answered", "api_p95_ms", "api_failed", "delivery_p95_ms", "kib_per_stream", "submits_failed")
        } | {"deliveries": [r["deliveries"] for r in rows]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live_streams.json").write_text(json.dumps({"streams": streams, "rounds": rounds, "rows": results, "median": summary}, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
