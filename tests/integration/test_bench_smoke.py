"""Each benchmark runs on tiny counts and writes its result: a smoke test, never a timing assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TINY = {
    "job_overhead": ["2"],
    "throughput": ["3", "1", "--rounds", "1"],
    "makespan": ["2", "1", "2"],
    "transfer": ["8", "1"],
    "web_load": ["100", "1"],
    "env_cache": ["1"],
    "live_streams": ["8", "1"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_bench_script_runs(name: str, test_env: dict[str, str], tmp_path: Path) -> None:
    env = {**test_env, "LABQUEUE_BENCH_RESULTS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *TINY[name]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert json.loads((tmp_path / f"{name}.json").read_text())


def test_lab_day_runs_and_reports_each_endpoint_without_a_failure(test_env: dict[str, str], tmp_path: Path) -> None:
    """The lab's day in small (3 researchers, 1 script, 40 s): Locust's files, every page and call named, no failed
    request, every job heard ending by each stream following it, and the web's CPU and memory."""
    env = {**test_env, "LABQUEUE_BENCH_RESULTS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.lab_day", "3", "1", "40"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "lab_day.json").read_text())

    assert result["failures"] == 0, [row for row in result["endpoints"] if row["failures"]]
    assert {row["name"] for row in result["endpoints"]} >= {
        "POST /login", "GET /jobs (results page)", "GET /upload", "POST /api/v1/jobs", "GET /jobs/[id] (job page)",
        "GET /api/v1/events (results page, first byte)", "GET /api/v1/events (job page, first byte)",
        "GET /api/v1/jobs/[id]/log", "GET /api/v1/jobs/[id]/output", "GET /api/v1/jobs", "labqueue submit --wait",
    }
    for row in result["endpoints"]:
        assert row["requests"] > 0 and row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"], row
    assert result["cli"]["runs"] >= 1 and result["cli"]["failed"] == 0
    delivered = result["delivery"]
    assert delivered["jobs"] > result["cli"]["runs"] and not delivered["missed"]
    assert delivered["jobs_ended"] == delivered["jobs_heard_by_every_stream"] == delivered["jobs"]
    assert delivered["every_stream_ms"]["p50"] <= delivered["every_stream_ms"]["p95"]
    for name in ("web", "producer", "consumer"):
        assert result["resources"][name]["cpu_seconds"] > 0 and result["resources"][name]["rss_mib_peak"] > 0
    assert "Aggregated" in (tmp_path / "lab_day_stats.csv").read_text()
    assert "POST /api/v1/jobs" in (tmp_path / "lab_day_report.html").read_text()

    docs = tmp_path / "docs"
    report = subprocess.run(
        [sys.executable, "-m", "bench.report"], cwd=ROOT, env={**env, "LABQUEUE_BENCH_DOCS": str(docs)}, capture_output=True, text=True, timeout=60, check=False
    )
    assert report.returncode == 0, report.stderr
    text = (docs / "benchmarks.md").read_text()
    assert "## A lab's day" in text and "| POST /api/v1/jobs | " in text and "| 8 | lab's day (3 researchers and 1 scripts" in text


def test_report_is_written_from_results(tmp_path: Path, test_env: dict[str, str]) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "throughput.json").write_text(json.dumps({"jobs": 3, "rounds": 1, "rows": [{"slots": 1, "ours": 1.0, "bare": 2.0, "ratio": 0.5}]}))
    env = {**test_env, "LABQUEUE_BENCH_RESULTS": str(results), "LABQUEUE_BENCH_DOCS": str(tmp_path / "docs")}
    done = subprocess.run([sys.executable, "-m", "bench.report"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "| 2 | throughput, 3 trivial jobs, 1 slot(s), median of 1 round(s) | 1.00 jobs/s" in report
    assert (tmp_path / "docs" / "throughput.svg").read_text().startswith("<svg")
