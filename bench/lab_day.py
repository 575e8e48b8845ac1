"""A lab's day (issue 15): researchers in browsers, each with a live results page open and a small job every 30-60 s,
plus scripts running the real `labqueue submit --wait` in a loop, on a stack like `make up`'s (4 gevent web workers
with the access log, the producer, a python consumer of 2 slots). Locust drives the researchers, headless, as a
library; its CSV and HTML report go to bench/results/lab_day_*.

Reports, per endpoint, p50/p95/p99 and failures (Locust's figures); event delivery, from each job's final state as
recorded (its finished_at) until every stream of its user that follows it (the results page, the job's page) holds
it; the web's CPU and memory, the producer's and consumer's, and what else kept the shared machine busy.

Usage: .venv/bin/python -m bench.lab_day [RESEARCHERS] [SCRIPTS] [SECONDS]   (default 50 5 600; needs make up's services)
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gevent
import gevent.event
import locust.stats
from locust.env import Environment
from locust.html import get_html_report
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bench.common import RESULTS, TERMINAL
from bench.lab_day_users import LAB, SMALL_JOB, Credentials, LiveStream, Researcher
from bench.sampler import Sampler
from bench.stack import BIN, Stack, private_stack
from storage.config import database_url
from storage.db import Database
from storage.models import Job
from webapp.accounts import create_token, create_user

SPAWN_RATE = 1.0  # researchers arriving per second: each login checks a password (scrypt), deliberately slow
SCRIPT_PAUSE = (5.0, 15.0)  # seconds a script spends on its results between two runs
DRAIN_SECONDS = 180.0  # after the run: how long jobs may take to end and streams to hear them
SAMPLE_SECONDS = 2.0
TARGET_P95_MS = 200
CLI = "labqueue submit --wait"
locust.stats.CSV_STATS_INTERVAL_SEC = 5  # the history CSV: a row per 5 s, not per second


def make_accounts(stack: Stack, researchers: int, scripts: int) -> list[str]:
    """The researchers' accounts (handed to the Locust users) and API tokens for the first ``scripts`` of them: a
    script's jobs are its researcher's, so that researcher's results page must hear them too."""
    db = Database(database_url(stack.env))
    tokens = []
    for index in range(researchers):  # a transaction each: one for all would hold SQLite's write lock through 50 hashes
        name, password = f"researcher{index:02d}", secrets.token_urlsafe(12)
        with db.session() as session:
            user = create_user(session, name, password)
            if index < scripts:
                tokens.append(create_token(session, user, "lab-day-script"))
        LAB.accounts.append(Credentials(name, password))
    return tokens


def script_loop(url: str, token: str, project: Path, stop: gevent.event.Event, environment: Environment, runs: list[dict]) -> None:
    """A researcher's script: `labqueue submit project.zip --wait` (the installed CLI, a process of its own), a
    pause, again, until told to stop. Each run counts in Locust's figures as one request named after the CLI."""
    with tempfile.TemporaryDirectory(prefix="labqueue-lab-day-home-") as home:
        tree = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}  # the client of the tree run
        env = {"PATH": os.environ["PATH"], "HOME": home, "LABQUEUE_URL": url, "LABQUEUE_TOKEN": token, **tree}
        while not stop.is_set():
            started = time.perf_counter()
            try:
                done = subprocess.run([str(BIN / "labqueue"), "submit", str(project), "--wait"], env=env, capture_output=True, text=True, timeout=600, check=False)
                failure = None if done.returncode == 0 else RuntimeError(f"exit {done.returncode}: {done.stderr[-300:]}")
                job_id = done.stdout.split()[0] if done.stdout.split() else None
            except subprocess.TimeoutExpired as exc:
                failure, job_id = exc, None
            seconds = time.perf_counter() - started
            runs.append({"job": job_id, "seconds": seconds, "ok": failure is None})
            environment.events.request.fire(
                request_type="CLI", name=CLI, response_time=seconds * 1000, response_length=0, exception=failure, context={}
            )
            stop.wait(random.uniform(*SCRIPT_PAUSE))


def sample_loop(sampler: Sampler, stop: gevent.event.Event) -> None:
    while not stop.is_set():
        sampler.sample()
        stop.wait(SAMPLE_SECONDS)


def ended_jobs(stack: Stack) -> dict[str, dict]:
    """Every job of the run as the database has it now: owner, status and when its final state was recorded."""
    with Database(database_url(stack.env)).session() as session:
        return {
            job.id: {"user": job.owner.name, "status": job.status, "finished_at": job.finished_at.timestamp() if job.finished_at else None}
            for job in session.scalars(select(Job).options(selectinload(Job.owner)))
        }


def following(job_id: str, user: str) -> list[LiveStream]:
    """The streams that must hear the job end: its user's results pages and the pages opened on that job."""
    return [s for s in LAB.streams if s.user == user and (s.page == "results page" or f"job={job_id}" in s.query)]


def drain(stack: Stack) -> dict[str, dict]:
    """Wait until every job has ended and every stream following it holds its end (or DRAIN_SECONDS pass)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        jobs = ended_jobs(stack)
        done = all(job["status"] in TERMINAL for job in jobs.values()) and all(
            job_id in stream.heard for job_id, job in jobs.items() for stream in following(job_id, job["user"])
        )
        if done or time.monotonic() > deadline:
            return jobs
        gevent.sleep(1)


def delivery(jobs: dict[str, dict]) -> dict:
    """Per job, the time from its final state recorded until the last stream following it held it."""
    delays, missed, per_stream = [], [], []
    for job_id, job in jobs.items():
        streams = following(job_id, job["user"])
        if job["finished_at"] is None or not streams:
            missed.append(job_id)
            continue
        heard = [stream.heard.get(job_id) for stream in streams]
        if None in heard:
            missed.append(job_id)
            continue
        per_stream += [max(0.0, at - job["finished_at"]) * 1000 for at in heard]
        delays.append(max(0.0, max(heard) - job["finished_at"]) * 1000)
    return {
        "jobs": len(jobs), "jobs_ended": sum(job["status"] in TERMINAL for job in jobs.values()),
        "jobs_heard_by_every_stream": len(delays), "missed": missed[:20],
        "streams_per_job": round(len(per_stream) / len(delays), 2) if delays else None,
        "every_stream_ms": _percentiles(delays), "per_stream_ms": _percentiles(per_stream),
    }


def _percentiles(samples: list[float]) -> dict[str, float] | None:
    if len(samples) < 2:
        return {"p50": round(samples[0], 1), "p95": round(samples[0], 1), "p99": round(samples[0], 1), "max": round(samples[0], 1)} if samples else None
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(statistics.median(samples), 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1), "max": round(max(samples), 1)}


def endpoints(environment: Environment) -> list[dict]:
    rows = []
    for entry in sorted(environment.stats.entries.values(), key=lambda e: e.name):
        rows.append({
            "name": entry.name, "method": entry.method, "requests": entry.num_requests, "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5), "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99), "max_ms": round(entry.max_response_time or 0),
        })
    return rows


def run(researchers: int, scripts: int, seconds: float) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with private_stack(slots=2, web_workers=4, access_log=True) as stack, tempfile.TemporaryDirectory() as scratch:
        tokens = make_accounts(stack, researchers, scripts)
        project = Path(scratch) / "analysis.zip"
        project.write_bytes(SMALL_JOB)
        environment = Environment(user_classes=[Researcher], host=stack.client.url, stop_timeout=240)
        runner = environment.create_local_runner()
        csv_writer = locust.stats.StatsCSVFileWriter(environment, locust.stats.PERCENTILES_TO_REPORT, str(RESULTS / "lab_day"))
        background = [gevent.spawn(csv_writer.stats_writer), gevent.spawn(locust.stats.stats_history, runner)]
        sampler = Sampler({"web": stack.pids["web"], "producer": stack.pids["producer"], "consumer": stack.pids["consumer-0"]})
        stop_sampling, stop_scripts = gevent.event.Event(), gevent.event.Event()
        background.append(gevent.spawn(sample_loop, sampler, stop_sampling))

        runner.start(researchers, spawn_rate=SPAWN_RATE)
        deadline = time.monotonic() + researchers / SPAWN_RATE + 120
        while sum(s.opened_at is not None for s in LAB.streams if s.page == "results page") < researchers:
            if time.monotonic() > deadline:
                raise TimeoutError("not every researcher's results page got its stream")
            gevent.sleep(1)
        runs: list[dict] = []
        loops = [gevent.spawn(script_loop, stack.client.url, token, project, stop_scripts, environment, runs) for token in tokens]
        gevent.sleep(seconds)

        stop_scripts.set()
        runner.stop()  # a researcher in the middle of a job finishes it (stop_timeout), then leaves
        gevent.joinall(loops, timeout=600)
        jobs = drain(stack)
        for stream in LAB.streams:
            stream.close()
        stop_sampling.set()
        sampler.sample()
        (RESULTS / "lab_day_report.html").write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.5)  # one more write of the CSVs with the final figures
        gevent.killall(background)
        csv_writer.close_files()
        rows = endpoints(environment)
        cli_seconds = [r["seconds"] for r in runs]
        return {
            "researchers": researchers, "scripts": scripts, "seconds": seconds,
            "requests": environment.stats.total.num_requests, "failures": environment.stats.total.num_failures,
            "endpoints": rows,
            "over_target": [r["name"] for r in rows if r["method"] != "CLI" and r["p95_ms"] > TARGET_P95_MS],
            "cli": {"runs": len(runs), "failed": sum(not r["ok"] for r in runs),
                    "p50_s": round(statistics.median(cli_seconds), 2) if cli_seconds else None,
                    "p95_s": round(_percentiles(cli_seconds)["p95"], 2) if cli_seconds else None},
            "delivery": delivery(jobs),
            "streams": {"opened": len(LAB.streams), "reconnects": sum(s.reconnects for s in LAB.streams)},
            "resources": sampler.summary(),
        }


def main() -> None:
    researchers = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    scripts = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 600
    result = run(researchers, scripts, seconds)
    (RESULTS / "lab_day.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({key: result[key] for key in ("requests", "failures", "over_target", "cli", "delivery")}, indent=2))


if __name__ == "__main__":
    main()
