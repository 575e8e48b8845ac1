"""Environment cache: the time to start a job whose requirements image exists, against one without requirements.

Usage: .venv/bin/python -m bench.env_cache [N]   (default 40 of each, interleaved; needs `make up`'s services)
The requirement (numpy, already in the worker image) installs without network; the first job builds the image.
A job's start is read from its own record (submitted to running, both stamped by labqueue): a client polling for
it would see it in steps of its polling interval, a sixth of the time measured.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from datetime import datetime

from bench.common import RESULTS, summary
from bench.stack import private_stack

CODE = "print('hi')"


def project(requirements: str | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("code.py", CODE)
        if requirements:
            archive.writestr("requirements.txt", requirements)
    return buffer.getvalue()


def _seconds(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    plain, cached = project(None), project("numpy\n")
    with private_stack(slots=1) as stack:
        client = stack.client
        first = client.wait(client.submit(cached))  # builds the environment image once
        assert first["status"] == "succeeded", first
        times: dict[str, list[float]] = {"plain": [], "cached": []}
        for _ in range(count):
            for name, zipped in (("plain", plain), ("cached", cached)):
                job = client.wait(client.submit(zipped))
                assert job["status"] == "succeeded", job
                times[name].append(_seconds(job["submitted_at"], job["started_at"]))
    medians = {name: summary(samples)[0] for name, samples in times.items()}
    difference = medians["cached"] / medians["plain"] - 1
    print(f"median job start without requirements {medians['plain']:.3f} s, with a cached environment {medians['cached']:.3f} s")
    print(f"difference {difference:+.1%} over {count} jobs each")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "env_cache.json").write_text(json.dumps({"count": count, **medians, "difference": difference}))


if __name__ == "__main__":
    main()
