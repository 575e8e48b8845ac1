"""Throughput: N trivial jobs through K consumer slots, against K parallel loops of bare `docker run`.

Usage: .venv/bin/python -m bench.throughput [N] [K ...]   (default 200 jobs, K = 1 2 4; needs `make up`'s services)
Writes bench/results/throughput.json for bench/report.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time

from bench.common import RESULTS, bare_docker_run, project_zip
from bench.stack import private_stack

CODE = "print('hi')"
IMAGE = "labqueue/worker-python:latest"


def ours(jobs: int, slots: int) -> float:
    """Jobs per second, from the first submission to the last terminal state."""
    with private_stack(slots=slots) as stack:
        client, zipped = stack.client, project_zip(CODE)
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.submit(zipped), range(jobs)))
        client.wait_succeeded(jobs)
        return jobs / (time.perf_counter() - start)


def bare(jobs: int, slots: int) -> float:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        list(pool.map(lambda _: bare_docker_run(IMAGE, CODE), range(jobs)))
    return jobs / (time.perf_counter() - start)


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    slot_counts = [int(k) for k in sys.argv[2:]] or [1, 2, 4]
    rows = []
    print(f"{'slots':>5}{'labqueue jobs/s':>17}{'bare jobs/s':>13}{'ratio':>8}")
    for slots in slot_counts:
        row = {"slots": slots, "ours": ours(jobs, slots), "bare": bare(jobs, slots)}
        row["ratio"] = row["ours"] / row["bare"]
        rows.append(row)
        print(f"{slots:>5}{row['ours']:>17.2f}{row['bare']:>13.2f}{row['ratio']:>8.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps({"jobs": jobs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
