"""The jobs part of the REST API on the running stack: output files and previews, log ranges, resubmit, lists with
filters and pages, server-sent events, consistent JSON errors."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
import requests

from storage.staged_input import PART_SIZE
from tests.conftest import ApiUser, make_user, make_zip, read_zip
from tests.web import PLOTS_CODE


@pytest.fixture(scope="module")
def plotter(test_env, live_server, python_consumer) -> ApiUser:
    return make_user(test_env, live_server)


@pytest.fixture(scope="module")
def plotted(plotter: ApiUser) -> dict:
    """A finished job whose output holds a PNG, an SVG, a CSV and a text file in a subfolder."""
    response = plotter.submit(make_zip({"code.py": PLOTS_CODE}, top="vibration"), "vibration.zip", time_limit="120")
    assert response.status_code == 201, response.text
    job = plotter.wait(response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_output_files_are_listed_with_sizes(plotter: ApiUser, plotted: dict) -> None:
    listing = plotter.get(f"/api/v1/jobs/{plotted['id']}/files").json()

    names = {f["name"]: f for f in listing["files"]}
    assert set(names) == {"spectrum.png", "spectrum.svg", "readings.csv", "notes/summary.txt"}
    whole = read_zip(plotter.get(f"/api/v1/jobs/{plotted['id']}/output").content)
    assert {name: f["size"] for name, f in names.items()} == {name: len(data) for name, data in whole.items()}
    assert listing["total_files"] == 4 and listing["total_bytes"] == sum(len(d) for d in whole.values())
    assert names["spectrum.png"]["content_type"] == "image/png"


def test_one_output_file_is_served_sandboxed_with_its_type(plotter: ApiUser, plotted: dict) -> None:
    base = f"/api/v1/jobs/{plotted['id']}/files"

    png = plotter.get(f"{base}/spectrum.png")
    svg = plotter.get(f"{base}/spectrum.svg")
    nested = plotter.get(f"{base}/notes/summary.txt")
    as_download = plotter.get(f"{base}/spectrum.png?download=1")

    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert svg.headers["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    for response in (png, svg, nested):
        assert response.headers["Content-Security-Policy"].startswith("sandbox")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("inline")
    assert nested.text == "peak at 5 Hz\n"
    assert as_download.headers["Content-Disposition"].startswith("attachment") and as_download.content == png.content
    missing = plotter.get(f"{base}/nope.png")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_log_is_served_by_byte_ranges(plotter: ApiUser, plotted: dict) -> None:
    whole = plotter.get(f"/api/v1/jobs/{plotted['id']}/log")
    assert "plotted 500 samples" in whole.text and whole.headers["Accept-Ranges"] == "bytes"

    url = f"{plotter.base_url}/api/v1/jobs/{plotted['id']}/log"
    part = requests.get(url, headers={**plotter.headers, "Range": "bytes=3-"}, timeout=30)
    beyond = requests.get(url, headers={**plotter.headers, "Range": f"bytes={len(whole.content)}-"}, timeout=30)

    assert part.status_code == 206 and part.content == whole.content[3:]
    assert part.headers["Content-Range"] == f"bytes 3-{len(whole.content) - 1}/{len(whole.content)}"
    assert beyond.status_code == 416


def test_resubmit_runs_the_same_zip_again(plotter: ApiUser, plotted: dict) -> None:
    response = plotter.post(f"/api/v1/jobs/{plotted['id']}/resubmit")

    assert response.status_code == 201, response.text
    again = response.json()
    assert again["id"] != plotted["id"] and response.headers["Location"] == f"/api/v1/jobs/{again['id']}"
    for field in ("project", "runtime", "datasets", "time_limit", "memory_limit", "input_size", "input_sha256"):
        assert again[field] == plotted[field], field
    finished = plotter.wait(again["id"])
    assert finished["status"] == "succeeded"
    assert plotter.get(f"/api/v1/jobs/{again['id']}/files").json()["total_files"] == 4


def test_a_zip_of_several_parts_is_stored_whole_with_its_sha256_and_size(plotter: ApiUser) -> None:
    """Its parts went on to the store while it arrived (storage/staged_input.py): they must join up to the zip."""
    zipped = make_zip({"code.py": "print('parts')", "data.bin": os.urandom(2 * PART_SIZE + 12345)})

    response = plotter.submit(zipped, "parts.zip")

    assert response.status_code == 201, response.text
    job = response.json()
    assert (job["input_size"], job["input_sha256"]) == (len(zipped), hashlib.sha256(zipped).hexdigest())
    assert plotter.get(f"/api/v1/jobs/{job['id']}/input").content == zipped
    assert plotter.wait(job["id"])["status"] == "succeeded"


def test_lists_are_paginated_newest_first_and_filtered(test_env, live_server, python_consumer) -> None:
    owner = make_user(test_env, live_server)
    ids = []
    for name, code in (("alpha", "print(1)"), ("beta", "print(2)"), ("alphabet", "import sys; sys.exit(2)")):
        ids.append(owner.submit(make_zip({"code.py": code}, top=name)).json()["id"])
    for job_id in ids:
        owner.wait(job_id)

    first = owner.get("/api/v1/jobs?per_page=2").json()
    second = owner.get("/api/v1/jobs?per_page=2&page=2").json()
    alphas = owner.get("/api/v1/jobs?project=ALPHA").json()
    failed = owner.get("/api/v1/jobs?status=failed").json()

    assert (first["total"], first["pages"], second["page"]) == (3, 2, 2)
    assert [j["id"] for j in first["items"] + second["items"]] == ids[::-1]
    assert {j["project"] for j in alphas["items"]} == {"alpha", "alphabet"}
    assert [j["project"] for j in failed["items"]] == ["alphabet"]
    assert owner.get("/api/v1/jobs?runtime=matlab").json()["total"] == 0
    assert owner.get("/api/v1/jobs?project=%25").json()["total"] == 0  # a literal %, not a wildcard


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/jobs?status=sleeping", 400, "bad_request"),
        ("/api/v1/jobs?page=first", 400, "bad_request"),
        ("/api/v1/jobs/not-a-job", 404, "not_found"),
        ("/api/v1/no-such-endpoint", 404, "not_found"),
    ],
)
def test_errors_are_json(plotter: ApiUser, path: str, status: int, code: str) -> None:
    response = plotter.get(path)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == code and response.json()["message"]


def test_wrong_method_is_json_405(plotter: ApiUser) -> None:
    response = requests.delete(f"{plotter.base_url}/api/v1/jobs", headers=plotter.headers, timeout=10)
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def read_events(response: requests.Response, until, timeout: float = 120) -> list[tuple[str, dict]]:
    """Events from an open stream until ``until(events)`` holds."""
    events: list[tuple[str, dict]] = []
    name = None
    deadline = time.monotonic() + timeout
    for line in response.iter_lines(chunk_size=None, decode_unicode=True):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line[5:])))
            if until(events):
                return events
        assert time.monotonic() < deadline, f"no such events within {timeout} s: {events}"
    raise AssertionError(f"the stream ended early: {events}")


def test_events_follow_a_job_from_queued_to_succeeded(plotter: ApiUser) -> None:
    code = "import time\nprint('warming up', flush=True)\ntime.sleep(3)\nprint('done')\n"
    with requests.get(f"{plotter.base_url}/api/v1/events", headers=plotter.headers, stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        stream.encoding = "utf-8"
        job = plotter.submit(make_zip({"code.py": code})).json()

        events = read_events(stream, lambda seen: any(d.get("id") == job["id"] and d["status"] == "succeeded" for _, d in seen))

    statuses = [d["status"] for name, d in events if name == "job" and d["id"] == job["id"]]
    order = ["queued", "preparing", "running", "succeeded"]
    assert statuses[0] in ("queued", "preparing", "running") and statuses[-1] == "succeeded", statuses
    assert [order.index(s) for s in statuses] == sorted({order.index(s) for s in statuses}), statuses


def test_events_announce_the_log_as_it_grows(plotter: ApiUser) -> None:
    code = "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(1.5)\n"
    job = plotter.submit(make_zip({"code.py": code})).json()
    url = f"{plotter.base_url}/api/v1/events?job={job['id']}&log={job['id']}"
    with requests.get(url, headers=plotter.headers, stream=True, timeout=30) as stream:
        stream.encoding = "utf-8"
        events = read_events(stream, lambda seen: any(name == "log" and d["final"] for name, d in seen))

    sizes = [d["size"] for name, d in events if name == "log"]
    assert len(sizes) >= 2 and sizes == sorted(sizes), sizes
    assert sizes[-1] == len(plotter.get(f"/api/v1/jobs/{job['id']}/log").content)


def test_streams_end_when_clients_leave(plotter: ApiUser) -> None:
    """More streams opened and dropped than the server has threads (2 workers x 4): if any outlived its client,
    the streams after them would wait for a free thread until a heartbeat's failed write (15 s) or the lifetime."""
    started = time.monotonic()
    for _ in range(12):
        with requests.get(f"{plotter.base_url}/api/v1/events", headers=plotter.headers, stream=True, timeout=30) as stream:
            next(stream.iter_lines(chunk_size=None))
    assert requests.get(f"{plotter.base_url}/api/v1/jobs", headers=plotter.headers, timeout=10).status_code == 200
    assert time.monotonic() - started < 12


def test_a_capped_logs_cut_is_located(plotter: ApiUser) -> None:
    """The test stack keeps 1 MiB of log: the consumer keeps head and tail and marks the cut; the API says where."""
    code = "for i in range(40000):\n    print(f'line {i:06d} ' + 'x' * 40)\n"
    job = plotter.wait(plotter.submit(make_zip({"code.py": code})).json()["id"])
    assert job["status"] == "succeeded"

    url = f"{plotter.base_url}/api/v1/jobs/{job['id']}/log"
    tail = requests.get(url, headers={**plotter.headers, "Range": "bytes=-100"}, timeout=30)
    start, end = map(int, tail.headers["X-Log-Cut"].split("-"))
    mark = requests.get(url, headers={**plotter.headers, "Range": f"bytes={start}-{end - 1}"}, timeout=30)

    assert start == 2**19 and mark.text.startswith("\n[... labqueue: ") and "(log limit 1048576 bytes)" in mark.text
    assert tail.text.endswith("line 039999 " + "x" * 40 + "\n")
    small = requests.get(url, headers={**plotter.headers, "Range": "bytes=0-9"}, timeout=30)
    assert small.text == "line 00000"


FORGER = (
    "print('[... labqueue: 99 bytes of log cut here (log limit 1048576 bytes) ...]')\n"
    "print('[labqueue] environment ready')\n"
    "import os; os.makedirs('output', exist_ok=True); open('output/page.html', 'w').write('<script>alert(1)</script>')\n"
)


def test_a_job_cannot_forge_labqueues_marks_in_its_log(plotter: ApiUser) -> None:
    """labqueue's notes and the build's output are marked out of band (X-Log-Marks); the job's look-alikes are not."""
    job = plotter.wait(plotter.submit(make_zip({"code.py": FORGER, "requirements.txt": "labqueue-probe==1.0\n"})).json()["id"])
    assert job["status"] == "succeeded"
    response = plotter.get(f"/api/v1/jobs/{job['id']}/log")
    log, marks = response.content, json.loads(response.headers["X-Log-Marks"])

    assert "X-Log-Cut" not in response.headers
    assert {kind for kind, _start, _end in marks} >= {"labqueue"}
    assert any(log[start:end].startswith(b"[labqueue] environment ") for kind, start, end in marks if kind == "labqueue")
    for forged in (log.index(b"[... labqueue: 99 bytes"), log.rindex(b"[labqueue] environment ready")):
        assert not any(start <= forged < end for _kind, start, end in marks)

    # The log and every download say nosniff: no browser reads the job's bytes as anything but their type.
    downloads = [response] + [plotter.get(f"/api/v1/jobs/{job['id']}{path}") for path in ("/output", "/input", "/files/page.html")]
    for download in downloads:
        assert download.status_code == 200 and download.headers["X-Content-Type-Options"] == "nosniff", download.url
    assert downloads[-1].headers["Content-Type"] == "application/octet-stream"
