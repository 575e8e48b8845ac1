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
