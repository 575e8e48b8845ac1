"""Upload and download of a large job zip through the API, against the MinIO SDK putting and getting it directly.

Usage: .venv/bin/python -m bench.transfer [MIB]   (default 1024; needs `make up`'s services)
Reports throughput of both paths, their ratio, and the web process' peak memory (VmHWM, largest gunicorn worker).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

from bench.common import RESULTS
from bench.stack import private_stack
from storage.config import StorageConfig
from storage.objects import ObjectStore

CHUNK = 4 * 2**20


def make_zip(path: Path, mib: int) -> None:
    """A job zip holding ``mib`` MiB of incompressible data (stored, so the zip is as large as its content)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("code.py", "print('data job')\n")
        with archive.open("data.bin", "w", force_zip64=True) as sink:
            block = os.urandom(CHUNK)
            for _ in range(mib * 2**20 // CHUNK):
                sink.write(block)


def peak_rss(pids: list[int]) -> int:
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        peaks += [int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")]
    return max(peaks)


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="labqueue-bench-") as scratch:
        path = Path(scratch) / "big.zip"
        make_zip(path, mib)
        size = path.stat().st_size
        with private_stack(slots=1, web_workers=2, LABQUEUE_MAX_UPLOAD_MIB=str(mib + 64)) as stack:
            client = stack.client
            store = ObjectStore(StorageConfig.from_env(stack.env))
            start = time.perf_counter()
            with path.open("rb") as file:
                store.put_stream("bench/direct.zip", file, size, "application/zip")
            direct_up = size / (time.perf_counter() - start)
            start = time.perf_counter()
            for _ in store.iter_object("bench/direct.zip"):
                pass
            direct_down = size / (time.perf_counter() - start)

            start = time.perf_counter()
            with path.open("rb") as file:
                response = requests.post(f"{client.url}/api/v1/jobs", headers=client.headers, files={"file": ("big.zip", file)}, timeout=3600)
            response.raise_for_status()
            api_up = size / (time.perf_counter() - start)
            job = client.wait(response.json()["id"])
            assert job["status"] == "succeeded", job
            start = time.perf_counter()
            with requests.get(f"{client.url}/api/v1/jobs/{job['id']}/input", headers=client.headers, stream=True, timeout=3600) as download:
                download.raise_for_status()
                received = sum(len(chunk) for chunk in download.iter_content(CHUNK))
            api_down = received / (time.perf_counter() - start)
            assert received == size
            peak = peak_rss(stack.web_pids)
    result = {"mib": mib, "direct_up": direct_up, "api_up": api_up, "direct_down": direct_down, "api_down": api_down, "web_peak_rss": peak}
    print(f"{'path':<10}{'direct MB/s':>13}{'API MB/s':>10}{'ratio':>7}")
    for way in ("up", "down"):
        print(f"{way:<10}{result['direct_' + way] / 1e6:>13.0f}{result['api_' + way] / 1e6:>10.0f}{result['api_' + way] / result['direct_' + way]:>7.2f}")
    print(f"web peak memory (VmHWM): {peak / 2**20:.0f} MiB")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transfer.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
