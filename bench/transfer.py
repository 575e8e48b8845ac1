"""Upload and download of a large job zip through the API, against the MinIO SDK putting and getting it directly.

Usage: .venv/bin/python -m bench.transfer [MIB [ROUNDS]]   (default 1024 MiB, 3 rounds; needs `make up`'s services)
Reports the median throughput of both paths over interleaved rounds, their ratio, and the web process' peak memory (VmHWM, largest gunicorn worker).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

from bench.common import RESULTS
from bench.stack import Stack, private_stack
from client.api import Client, ClientConfig
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


class Transfers:
    """The four transfers of one zip, each a method named ``<path>_<way>``, on a private labqueue."""

    def __init__(self, path: Path, stack: Stack) -> None:
        self.path, self.size, self.client = path, path.stat().st_size, stack.client
        self.store = ObjectStore(StorageConfig.from_env(stack.env))
        self.api = Client(ClientConfig(url=stack.client.url, token=stack.client.token))
        self.job_id = ""

    def rate(self, name: str) -> float:
        """Bytes per second of one run of transfer ``name``."""
        start = time.perf_counter()
        getattr(self, name)()
        return self.size / (time.perf_counter() - start)

    def direct_up(self) -> None:
        with self.path.open("rb") as file:
            self.store.put_stream("bench/direct.zip", file, self.size, "application/zip")

    def direct_down(self) -> None:
        for _ in self.store.iter_object("bench/direct.zip"):
            pass

    def api_up(self) -> None:
        with self.path.open("rb") as file:  # streamed as researchers' clients send it, never built whole in memory
            self.job_id = self.api.submit(file, "big.zip", self.size)["id"]

    def api_down(self) -> None:
        url = f"{self.client.url}/api/v1/jobs/{self.job_id}/input"
        with requests.get(url, headers=self.client.headers, stream=True, timeout=3600) as download:
            download.raise_for_status()
            assert sum(len(chunk) for chunk in download.iter_content(CHUNK)) == self.size

    def job_done(self) -> None:
        """Wait for the uploaded job's run, which reads the zip, so that it does not compete with what is timed next."""
        job = self.client.wait(self.job_id)
        assert job["status"] == "succeeded", job


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rates: dict[str, list[float]] = {"direct_up": [], "api_up": [], "direct_down": [], "api_down": []}
    with tempfile.TemporaryDirectory(prefix="labqueue-bench-") as scratch:
        path = Path(scratch) / "big.zip"
        make_zip(path, mib)
        with private_stack(slots=1, web_workers=2, LABQUEUE_MAX_UPLOAD_MIB=str(mib + 64)) as stack:
            transfers = Transfers(path, stack)
            # Interleaved, the order swapped every round, so that neither path always comes first (a new bucket's
            # volumes, the page cache).
            for round_number in range(rounds):
                order = ("direct", "api") if round_number % 2 == 0 else ("api", "direct")
                for way in ("up", "down"):
                    for name in (f"{first}_{way}" for first in order):
                        rates[name].append(transfers.rate(name))
                        if name == "api_up":
                            transfers.job_done()
            peak = peak_rss(stack.web_pids)
    result = {"mib": mib, "rounds": rounds, **{name: statistics.median(values) for name, values in rates.items()}, "web_peak_rss": peak, "samples": rates}
    print(f"{'path':<10}{'direct MB/s':>13}{'API MB/s':>10}{'ratio':>7}   (medians of {rounds} rounds)")
    for way in ("up", "down"):
        print(f"{way:<10}{result['direct_' + way] / 1e6:>13.0f}{result['api_' + way] / 1e6:>10.0f}{result['api_' + way] / result['direct_' + way]:>7.2f}")
    print(f"web peak memory (VmHWM): {peak / 2**20:.0f} MiB")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transfer.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
