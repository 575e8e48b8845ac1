"""Shared pieces of the benchmarks: a user on a running labqueue, timing, and the bare-docker baseline."""

from __future__ import annotations

import io
import itertools
import os
import statistics
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("LABQUEUE_BENCH_RESULTS", ROOT / "bench" / "results"))
TERMINAL = {"succeeded", "failed", "timed_out", "out_of_memory", "output_too_large", "cancelled", "system_error"}

# The flags the consumer's sandbox uses (consumer/sandbox.py), for a like-for-like bare run.
SANDBOX_FLAGS = [
    "--network", "none", "--user", "1000:1000", "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=512m,mode=1777",
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--pids-limit", "256",
    "--memory", "2048m", "--memory-swap", "2048m", "--cpus", "1", "--workdir", "/job",
]


@dataclass
class Client:
    url: str
    token: str
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def from_env(cls) -> Client:
        """LABQUEUE_URL (default http://127.0.0.1:8000) and LABQUEUE_TOKEN, or a token made for the admin."""
        url = os.environ.get("LABQUEUE_URL", "http://127.0.0.1:8000")
        token = os.environ.get("LABQUEUE_TOKEN") or subprocess.run(
            [str(ROOT / ".venv/bin/labqueue-admin"), "create-token", "admin", "--token-name", "bench"],
            check=True, capture_output=True, text=True, cwd=ROOT,
        ).stdout.strip()
        return cls(url, token)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def session(self) -> requests.Session:
        """This thread's session: its requests reuse one connection, as a researcher's script would."""
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def submit(self, zip_bytes: bytes, **fields: str) -> str:
        response = self.session.post(
            f"{self.url}/api/v1/jobs", headers=self.headers, files={"file": ("bench.zip", zip_bytes)}, data=fields, timeout=120
        )
        response.raise_for_status()
        return response.json()["id"]

    def wait(self, job_id: str, poll: float = 0.05, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.session.get(f"{self.url}/api/v1/jobs/{job_id}", headers=self.headers, timeout=30).json()
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll)
        raise TimeoutError(f"job {job_id} did not finish in {timeout} s")

    def wait_succeeded(self, count: int, poll: float = 0.1, timeout: float = 1800) -> None:
        """Wait until ``count`` jobs of this (private) labqueue have succeeded, with one count query per poll.

        Polls come less often while many jobs are left (every ~half the time the rest should take, at most 1 s, as
        gunicorn drops a connection idle for 2 s) and every ``poll`` seconds near the end: the 2-core machine serves
        these requests too, and a poll every 0.1 s for the whole run cost the web ~4 ms of CPU per job it measures.
        """
        start = time.monotonic()
        deadline = start + timeout
        for polls in itertools.count():
            done = self._count("succeeded")
            if done >= count:
                return
            if polls % 5 == 0:
                ended_otherwise = {status: self._count(status) for status in TERMINAL - {"succeeded"}}
                if any(ended_otherwise.values()):
                    raise AssertionError(f"jobs ended otherwise: {ended_otherwise}")
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{count} jobs did not succeed in {timeout} s")
            rate = done / (now - start)
            time.sleep(max(poll, min(1.0, 0.5 * (count - done) / rate)) if rate > 0 else poll * 5)

    def _count(self, status: str) -> int:
        params = {"status": status, "per_page": 1}
        return self.session.get(f"{self.url}/api/v1/jobs", params=params, headers=self.headers, timeout=30).json()["total"]


def project_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("code.py", code)
    return buffer.getvalue()


def bare_docker_run(image: str, code: str) -> float:
    """Seconds for `docker run --rm` of the same image and command under the same sandbox flags."""
    start = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", *SANDBOX_FLAGS, image, "python", "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95
