"""Per-job overhead: a trivial job through the API to its visible terminal state, against a bare `docker run`.

Usage: .venv/bin/python bench/job_overhead.py [N]   (needs `make up` running; default N=20)
"""

from __future__ import annotations

import sys
import time

from bench.common import Client, bare_docker_run, project_zip, summary

CODE = "print('hi')"
IMAGE = "labqueue/worker-python:latest"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    client = Client.from_env()
    zipped = project_zip(CODE)
    ours, bare = [], []
    for _ in range(count):  # interleaved, so drift on the machine hits both alike
        start = time.perf_counter()
        job = client.wait(client.submit(zipped))
        ours.append(time.perf_counter() - start)
        assert job["status"] == "succeeded", job
        bare.append(bare_docker_run(IMAGE, CODE))
    (our_median, our_p95), (bare_median, bare_p95) = summary(ours), summary(bare)
    print(f"{'path':<28}{'median s':>10}{'p95 s':>10}")
    print(f"{'labqueue (API to terminal)':<28}{our_median:>10.3f}{our_p95:>10.3f}")
    print(f"{'bare docker run':<28}{bare_median:>10.3f}{bare_p95:>10.3f}")
    print(f"ratio of medians: {our_median / bare_median:.2f}x over {count} jobs each")


if __name__ == "__main__":
    main()
