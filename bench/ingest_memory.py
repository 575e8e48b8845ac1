"""Peak memory of the web process while it ingests a large readings CSV (POST /api/v1/datasets/<name>/readings).

Usage: .venv/bin/python -m bench.ingest_memory [SIZE_MIB]   (default 1024; needs the services of `make up`)

Writes the CSV to a temporary file, starts its own gunicorn web process (one worker, as `make up` runs it) on a
bucket and database of its own, streams the CSV to it, and reads VmHWM (peak resident set) of the master and
the worker from /proc before and after.
"""

from __future__ import annotations

import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from bench.isolated import ROOT, isolated_env

BOUNDARY = "labqueue-bench-" + secrets.token_hex(8)
EQUIPMENT = ["pump-1", "pump-2", "compressor-1", "fan-3", "valve-12", "motor-7"]


def write_csv(path: Path, target_bytes: int) -> int:
    """Per-second readings of a few machines until the file reaches the size; returns the number of rows."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = 0
    with path.open("w", newline="") as out:
        out.write("equipment_id,timestamp,value\n")
        while out.tell() < target_bytes:
            moment = (start + timedelta(seconds=rows // len(EQUIPMENT))).isoformat()
            block = "".join(f"{name},{moment},{(rows + i) % 1000 / 10:.1f}\n" for i, name in enumerate(EQUIPMENT))
            out.write(block)
            rows += len(EQUIPMENT)
    return rows


class MultipartFile:
    """A multipart/form-data body with one file field, read from disk as it is sent (requests streams objects
    with a length), so the benchmark client holds no copy of the file either."""

    def __init__(self, path: Path) -> None:
        self.head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
                     "Content-Type: text/csv\r\n\r\n").encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.file = path.open("rb")
        self.size = path.stat().st_size
        self.parts = [self.head, None, self.tail]

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            if self.parts[0] is None:
                data = self.file.read(size if size > 0 else 1 << 20)
                if data:
                    return data
                self.parts.pop(0)
            else:
                data = self.parts.pop(0)
                return data
        return b""


def vm_hwm_kib(pid: int) -> int:
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))


def vm_rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([str(ROOT / ".venv/bin/labqueue-admin"), *args], env=env, input=stdin, capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout.strip()


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="labqueue-ingest-") as scratch, isolated_env() as env:
        csv_path = Path(scratch) / "readings.csv"
        started = time.perf_counter()
        rows = write_csv(csv_path, size_mib * 2**20)
        print(f"generated {csv_path.stat().st_size / 2**20:.0f} MiB, {rows} readings in {time.perf_counter() - started:.0f} s")
        env["LABQUEUE_MAX_DATASET_UPLOAD_MIB"] = str(size_mib + 64)
        env["TMPDIR"] = scratch  # the web process spools the upload and the checked rows here
        port = free_port()
        command = [str(ROOT / ".venv/bin/gunicorn"), "--config", str(ROOT / "webapp" / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
                   "--workers", "1", "webapp:create_app()"]
        with (Path(scratch) / "web.log").open("w") as web_log:
            web = subprocess.Popen(command, env=env, cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    requests.get(url + "/login", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
            password = secrets.token_urlsafe(12)
            cli(env, "create-user", "bench", "--password-stdin", stdin=password + "\n")
            token = cli(env, "create-token", "bench")
            (worker,) = children(web.pid)
            before = {"master": vm_hwm_kib(web.pid), "worker": vm_hwm_kib(worker)}
            peak_rss = [0]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.05):
                    peak_rss[0] = max(peak_rss[0], vm_rss_kib(worker))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            body = MultipartFile(csv_path)
            started = time.perf_counter()
            response = requests.post(
                f"{url}/api/v1/datasets/bench-readings/readings",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=1800,
            )
            seconds = time.perf_counter() - started
            stop.set()
            sampler.join()
            after = {"master": vm_hwm_kib(web.pid), "worker": vm_hwm_kib(worker)}
            response.raise_for_status()
            result = response.json()
            print(f"ingested {result['accepted']} readings ({result['rejected']} rejected) as version {result['version']['ref']} "
                  f"in {seconds:.1f} s ({csv_path.stat().st_size / 2**20 / seconds:.0f} MiB/s)")
            for name in ("master", "worker"):
                print(f"{name:>7}: VmHWM {before[name] / 1024:.0f} MiB before, {after[name] / 1024:.0f} MiB after")
            print(f" worker: sampled VmRSS peak {peak_rss[0] / 1024:.0f} MiB during the request")
            # An append: the new version's readings.csv is the previous one streamed through, plus these rows.
            started = time.perf_counter()
            response = requests.post(
                f"{url}/api/v1/datasets/bench-readings/readings",
                json=[{"equipment_id": "pump-1", "timestamp": f"2030-01-01T00:00:{i:02d}Z", "value": i} for i in range(60)],
                headers={"Authorization": f"Bearer {token}"},
                timeout=1800,
            )
            response.raise_for_status()
            version = response.json()["version"]
            print(f"appended 60 readings as {version['ref']} ({version['total_bytes'] / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s;"
                  f" worker VmHWM now {vm_hwm_kib(worker) / 1024:.0f} MiB")
        finally:
            web.send_signal(signal.SIGTERM)
            web.wait(30)


if __name__ == "__main__":
    main()
