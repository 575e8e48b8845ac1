"""A fresh install's demo: `labqueue-admin seed-demo` makes the demo-sensors dataset, and examples/demo-job reads it."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from consumer.datasets import volume_name
from storage.config import StorageConfig
from storage.dataset_layout import DatasetRef, load_manifest
from storage.objects import ObjectStore
from tests.conftest import ROOT, ApiUser, labqueue_admin

DEMO_JOB = ROOT / "examples" / "demo-job"


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def demo_dataset(test_env: dict[str, str], live_server: str) -> Iterator[None]:
    """The demo dataset, seeded twice (the second run must find it and do nothing); its cached volume removed after."""
    first = labqueue_admin(test_env, "seed-demo")
    assert first.returncode == 0 and "created the demo dataset demo-sensors@1" in first.stderr, first.stderr
    again = labqueue_admin(test_env, "seed-demo")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    yield
    manifest, digest = load_manifest(ObjectStore(StorageConfig.from_env(test_env)), DatasetRef("demo-sensors", 1))
    client = docker.from_env()
    volume = volume_name(manifest, digest)
    for container in client.containers.list(all=True, filters={"name": volume}):
        container.remove(force=True)
    for cached in client.volumes.list(filters={"name": volume}):
        cached.remove(force=True)
    client.close()


def test_demo_dataset_is_a_day_of_readings(user: ApiUser, demo_dataset) -> None:
    described = user.get("/api/v1/datasets/demo-sensors").json()
    assert described["owner"] is None and described["latest_version"] == 1
    (readings,) = described["versions"][0]["files"]
    assert readings["path"] == "readings.csv" and readings["rows"] == 4 * 24 * 60


def test_demo_job_computes_statistics_and_plots(user: ApiUser, python_consumer, demo_dataset) -> None:
    response = user.submit(zip_folder(DEMO_JOB), "demo-job.zip", datasets="demo-sensors")
    assert response.status_code == 201, response.text
    job = user.wait(response.json()["id"])
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "succeeded", log
    assert job["datasets"] == ["demo-sensors@1"]
    assert "read 5760 readings of 4 machines" in log
    with zipfile.ZipFile(io.BytesIO(user.get(f"/api/v1/jobs/{job['id']}/output").content)) as output:
        stats = list(csv.DictReader(io.StringIO(output.read("stats.csv").decode())))
        plot = output.read("plot.png")
    assert sorted(row["equipment_id"] for row in stats) == ["compressor-1", "fan-3", "pump-1", "pump-2"]
    assert all(row["count"] == "1440" for row in stats)
    assert all("14:00" <= row["peak_at"] <= "19:00" for row in stats), stats  # the daily cycle peaks at 16:00
    assert plot.startswith(b"\x89PNG\r\n\x1a\n") and len(plot) > 10_000


def test_demo_job_without_its_dataset_says_to_choose_it(user: ApiUser, python_consumer, demo_dataset) -> None:
    """The README's demo submitted without --dataset: the job's JSON and its page say which dataset to choose."""
    job = user.wait(user.submit(zip_folder(DEMO_JOB), "demo-job.zip").json()["id"])
    assert job["status"] == "failed"
    failure = user.get(f"/api/v1/jobs/{job['id']}").json()["failure"]
    assert failure["summary"] == "Failed: exited with code 1"
    assert failure["exception"].endswith("FileNotFoundError: [Errno 2] No such file or directory: '/data/demo-sensors/readings.csv'")
    assert failure["exception"] in failure["excerpt"] and "[labqueue]" not in failure["excerpt"]
    assert "--dataset demo-sensors" in failure["hint"]
    assert user.get("/api/v1/jobs").json()["items"][0].get("failure") is None  # lists do not read logs
