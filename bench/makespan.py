"""The thesis run: 5 jobs that each sleep 30 s on 2 slots; the makespan against the ideal 90 s.

Usage: .venv/bin/python -m bench.makespan [JOBS] [SECONDS] [SLOTS]   (default 5 30 2; needs `make up`'s services)
"""

from __future__ import annotations

import json
import math
import sys
import time

from bench.common import RESULTS, project_zip
from bench.stack import private_stack


def main() -> None:
    jobs, seconds, slots = (int(arg) for arg in (sys.argv[1:] + ["5", "30", "2"][len(sys.argv) - 1 :])[:3])
    ideal = math.ceil(jobs / slots) * seconds
    with private_stack(slots=slots) as stack:
        zipped = project_zip(f"import time\ntime.sleep({seconds})\n")
        # A warm-up job first: the web worker's first submission and the consumer's first job set up connections and
        # caches (about 0.2 s, once per process), which a lab's long-running labqueue has long paid.
        assert stack.client.wait(stack.client.submit(project_zip("print('warm-up')")))["status"] == "succeeded"
        start = time.perf_counter()
        job_ids = [stack.client.submit(zipped) for _ in range(jobs)]
        finals = [stack.client.wait(job_id) for job_id in job_ids]
        makespan = time.perf_counter() - start
    assert all(job["status"] == "succeeded" for job in finals)
    print(f"{jobs} jobs x {seconds} s on {slots} slots: makespan {makespan:.1f} s, ideal {ideal} s, +{makespan - ideal:.1f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "makespan.json").write_text(json.dumps({"jobs": jobs, "seconds": seconds, "slots": slots, "makespan": makespan, "ideal": ideal}))


if __name__ == "__main__":
    main()
