"""Writes docs/benchmarks.md (and docs/throughput.svg) from the results in bench/results/.

Usage: .venv/bin/python -m bench.report
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS, ROOT

DOCS = Path(os.environ.get("LABQUEUE_BENCH_DOCS", ROOT / "docs"))


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))) // 2**20
    docker = subprocess.run(["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, {platform.platform()}, Docker {docker}"


def throughput_svg(data: dict) -> str:
    """A small line chart of jobs/s against slots, ours and bare, drawn by hand (no plotting dependency)."""
    rows = data["rows"]
    width, height, pad = 420, 260, 45
    top = max(max(r["ours"], r["bare"]) for r in rows) * 1.15
    slots = [r["slots"] for r in rows]

    def x(value: int) -> float:
        return pad + (value - min(slots)) / max(1, max(slots) - min(slots)) * (width - 2 * pad)

    def y(value: float) -> float:
        return height - pad - value / top * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">']
    parts.append(f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>')
    parts.append(f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>')
    for value in slots:
        parts.append(f'<text x="{x(value)}" y="{height - pad + 15}" text-anchor="middle">{value}</text>')
    for tick in range(0, int(top) + 1, max(1, int(top) // 5)):
        parts.append(f'<text x="{pad - 6}" y="{y(tick) + 4}" text-anchor="end">{tick}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">consumer slots (bare: parallel docker run loops)</text>')
    parts.append(f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">jobs per second</text>')
    for key, colour, label in (("bare", "#98a2b3", "bare docker run"), ("ours", "#2e5aac", "labqueue")):
        points = " ".join(f"{x(r['slots'])},{y(r[key])}" for r in rows)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(r["slots"])}" cy="{y(r[key])}" r="3" fill="{colour}"/>' for r in rows]
        legend_y = pad - 20 + (12 if key == "ours" else 0)
        parts.append(f'<text x="{width - pad}" y="{legend_y}" text-anchor="end" fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def lab_day_section(data: dict) -> list[str]:
    """The lab's day per endpoint (Locust's figures), the CLI runs, the streams, and what the machine was doing."""
    res = data["resources"]
    lines = ["## A lab's day", "",
             (f"`.venv/bin/python -m bench.lab_day {data['researchers']} {data['scripts']} {data['seconds']:.0f}`: {data['researchers']} researchers "
             "in browsers (Locust, headless), each with the results page's event stream open all along, a small job every 30-60 s "
             "(upload page, submit, the job's page and its stream, log, output, job list, results page), and "
             f"{data['scripts']} scripts running `labqueue submit --wait` with a 5-15 s pause, against 4 gevent web workers, the "
             "producer and a consumer of 2 slots. Locust's report: `bench/results/lab_day_report.html`, `lab_day_stats.csv`."), "",
             "| endpoint | requests | failed | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
    for row in data["endpoints"]:
        unit = " (a whole job, end to end)" if row["method"] == "CLI" else ""
        lines.append(f"| {row['name']}{unit} | {row['requests']} | {row['failures']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} |")
    delivered, streams = data["delivery"], data["streams"]
    per = delivered["per_stream_ms"] or {}
    lines += ["", (f"Event delivery: {delivered['jobs_heard_by_every_stream']} of {delivered['jobs']} jobs ({delivered['jobs_ended']} ended) were heard by every "
              f"stream following them ({delivered['streams_per_job']} per job); per stream p50 / p95 / p99 {per.get('p50')} / {per.get('p95')} / "
              f"{per.get('p99')} ms. {streams['opened']} streams opened, {streams['reconnects']} reconnects (a stream ends after 5 minutes and "
              f"is resumed with Last-Event-ID). CLI: {data['cli']['runs']} runs, {data['cli']['failed']} failed, p50 {data['cli']['p50_s']} s."), ""]
    lines.append("| process | CPU s | mean % of a core | busiest 10 s % | RSS MiB start / peak / end |")
    lines.append("|---|---|---|---|---|")
    for name in ("web", "producer", "consumer"):
        row = res[name]
        lines.append(f"| {name} | {row['cpu_seconds']} | {row['cpu_mean_percent']} | {row['cpu_peak_10s_percent']} | "
                     f"{row['rss_mib_start']} / {row['rss_mib_peak']} / {row['rss_mib_end']} |")
    others = ", ".join(f"{o['process']} {o['cpu_seconds']:.0f} s" for o in res["others_busiest"]) or "nothing notable"
    lines += ["", (f"The machine ({res['machine_cores']} cores) was {res['machine_busy_percent']:.0f}% busy over the {res['seconds'] / 60:.0f} minutes; "
              f"the load generator (Locust and the CLI runs) used {res['load_generator_cpu_seconds']:.0f} s of CPU; the busiest other processes "
              f"by name (RabbitMQ's beam.smp, SeaweedFS's weed and dockerd serve this run too; pytest and the rest were other work on the "
              f"shared machine): {others}.")]
    return lines


def main() -> None:
    lines = ["# Benchmarks", "", f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}.", ""]
    lines += ["Reproduce: `make bench` (the whole suite, minutes), or one script with small counts, e.g.",
              "`.venv/bin/python -m bench.throughput 20 2`. Each script starts a labqueue of its own (vhost, bucket,",
              "database, producer, consumer, gunicorn) on the services `make up` runs, and measures the baseline in the",
              "same run. Figures are medians unless named.", ""]
    lines += ["| # | benchmark | labqueue | baseline | ratio | target |", "|---|---|---|---|---|---|"]
    if data := load("job_overhead"):
        lines.append(f"| 1 | per-job overhead, trivial job, API to visible terminal state (median / p95 of {data['count']}) | "
                     f"{data['ours_median']:.3f} s / {data['ours_p95']:.3f} s | bare `docker run`: {data['bare_median']:.3f} s / {data['bare_p95']:.3f} s | "
                     f"{data['ours_median'] / data['bare_median']:.2f}x | < 2x |")
    if data := load("throughput"):
        for row in data["rows"]:
            lines.append(f"| 2 | throughput, {data['jobs']} trivial jobs, {row['slots']} slot(s), median of {data.get('rounds', 1)} round(s) | {row['ours']:.2f} jobs/s | "
                         f"{row['slots']} bare loop(s): {row['bare']:.2f} jobs/s | {row['ratio']:.0%} | ≥ 80% |")
    if data := load("makespan"):
        lines.append(f"| 3 | thesis run: {data['jobs']} jobs x {data['seconds']} s on {data['slots']} slots, after a warm-up job | makespan {data['makespan']:.1f} s | "
                     f"ideal {data['ideal']} s | +{data['makespan'] - data['ideal']:.1f} s | < {data['ideal'] + 1.5} s |")
    if data := load("transfer"):
        for way in ("up", "down"):
            lines.append(f"| 4 | {data['mib']} MiB zip {way}load through the API, median of {data.get('rounds', 1)} round(s) | {data['api_' + way] / 1e6:.0f} MB/s | "
                         f"MinIO SDK direct: {data['direct_' + way] / 1e6:.0f} MB/s | {data['api_' + way] / data['direct_' + way]:.0%} | ≥ 70% |")
        lines.append(f"| 4 | web process peak memory during the transfers | {data['web_peak_rss'] / 2**20:.0f} MiB | | | < 150 MiB |")
    if data := load("web_load"):
        for key, label in (("api", "`GET /api/v1/jobs`"), ("page", "results page")):
            lines.append(f"| 5 | {label}, {data['jobs']} jobs in the database | {data[key]['rps']:.0f} req/s, p95 {data[key]['p95_ms']:.1f} ms | | | p95 < 100 ms |")
    if data := load("env_cache"):
        lines.append(f"| 6 | job start (submitted to running, from the job's record) with a cached requirements image (median of {data['count']}) | {data['cached']:.3f} s | "
                     f"no requirements: {data['plain']:.3f} s | {data['difference']:+.1%} | within 10% |")
    if data := load("live_streams"):
        ours, before = data["median"]["gevent"], data["median"]["gthread"]
        rounds = f"{data['streams']} open streams, median of {data['rounds']} round(s)"
        lines.append(f"| 7 | `GET /api/v1/jobs` p95 with {rounds} (3 s timeout) | {ours['api_p95_ms']:.1f} ms, {ours['api_failed']:.0f} failed | "
                     f"thread per stream (gthread): {before['api_p95_ms']:.0f} ms, {before['api_failed']:.0f} of 40 failed | "
                     f"over {before['api_p95_ms'] / ours['api_p95_ms']:.0f}x faster (gthread at the timeout) | p95 < 100 ms |")
        lines.append(f"| 7 | event delivery p95, job's final state recorded to every stream holding it, {rounds} | "
                     f"{ours['delivery_p95_ms']:.0f} ms ({', '.join(ours['deliveries'])} heard) | "
                     f"gthread: {before['streams_answered']:.0f} streams answered, {before['submits_failed']:.0f} of 3 submissions timed out | | < 1 s |")
        lines.append(f"| 7 | web memory growth per open stream, {rounds} | {ours['kib_per_stream']:.0f} KiB | gthread: {before['kib_per_stream']:.0f} KiB | | < 100 KiB |")
    if data := load("lab_day"):
        delivered = data["delivery"]
        worst = max((r for r in data["endpoints"] if r["method"] != "CLI"), key=lambda r: r["p95_ms"])
        day = f"{data['researchers']} researchers and {data['scripts']} scripts for {data['seconds'] / 60:.0f} min"
        lines.append(f"| 8 | lab's day ({day}): failed requests, the worst p95 of a page or API call | {data['failures']} of {data['requests']} failed; "
                     f"worst p95 {worst['p95_ms']} ms ({worst['name']}) | | | 0 failed, every p95 < 200 ms |")
        every = delivered["every_stream_ms"] or {}
        lines.append(f"| 8 | lab's day: a job's final state recorded to every stream of its user following it (p50 / p95) | "
                     f"{every.get('p50', 0):.0f} / {every.get('p95', 0):.0f} ms; {delivered['jobs_heard_by_every_stream']} of {delivered['jobs']} jobs heard by every stream | | | every stream hears every job end |")
        web = data["resources"]["web"]
        lines.append(f"| 8 | lab's day: the web's CPU (mean / busiest 10 s, of one core) and memory (RSS of master and workers, start / peak) | "
                     f"{web['cpu_mean_percent']:.0f}% / {web['cpu_peak_10s_percent']:.0f}%; {web['rss_mib_start']:.0f} / {web['rss_mib_peak']:.0f} MiB | | | |")
    DOCS.mkdir(parents=True, exist_ok=True)
    if data := load("throughput"):
        (DOCS / "throughput.svg").write_text(throughput_svg(data))
        lines += ["", "![throughput against slots](throughput.svg)"]
    if data := load("lab_day"):
        lines += ["", *lab_day_section(data)]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (DOCS / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {DOCS / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
