"""Throughput: N trivial jobs through K consumer slots, against K parallel loops of bare `docker run`.

Usage: .venv/bin/python -m bench.throughput [N] [K ...] [--rounds R]   (default 200 jobs, K = 1 2 4, 3 rounds;
needs `make up`'s services). Each round runs both paths, the order swapped every round; the table shows medians.
Writes bench/results/throughput.json for bench/report.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
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


def median_rates(jobs: int, slots: int, rounds: int) -> dict[str, float]:
    """Both paths ``rounds`` times, interleaved so that a slow minute of the machine does not land on one path only."""
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    paths = {"ours": ours, "bare": bare}
    for round_number in range(rounds):
        for name in ("ours", "bare") if round_number % 2 == 0 else ("bare", "ours"):
            rates[name].append(paths[name](jobs, slots))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("jobs", nargs="?", type=int, default=200)
    parser.add_argument("slots", nargs="*", type=int, default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    print(f"{'slots':>5}{'labqueue jobs/s':>17}{'bare jobs/s':>13}{'ratio':>8}   (medians of {args.rounds} rounds)")
    for slots in args.slots:
        row = {"slots": slots, **median_rates(args.jobs, slots, args.rounds)}
        row["ratio"] = row["ours"] / row["bare"]
        rows.append(row)
        print(f"{slots:>5}{row['ours']:>17.2f}{row['bare']:>13.2f}{row['ratio']:>8.2f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps({"jobs": args.jobs, "rounds": args.rounds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
