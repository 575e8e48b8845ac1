"""Per-job overhead: a trivial job through the API to its visible terminal state, against a bare `docker run`.

Usage: .venv/bin/python -m bench.job_overhead [N]   (default 20 of each, interleaved; needs `make up`'s services)
"""

from __future__ import annotations

import json
import sys
import time

from bench.common import RESULTS, bare_docker_run, project_zip, summary
from bench.stack import private_stack

CODE = "print('hi')"
IMAGE = "labqueue/worker-python:latest"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    ours, bare = [], []
    with private_stack(slots=1) as stack:
        client, zipped = stack.client, project_zip(CODE)
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
    RESULTS.mkdir(exist_ok=True)
    result = {"count": count, "ours_median": our_median, "ours_p95": our_p95, "bare_median": bare_median, "bare_p95": bare_p95}
    (RESULTS / "job_overhead.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
