"""CPU and memory of a benchmark's processes over a run, read with psutil, and what else kept the machine busy.

The machine is small and shared: a figure for the web means little without the CPU the rest of the machine used in
the same minutes, so a sample also notes the busiest processes that are not the benchmark's own.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil


def family(pid: int) -> list[psutil.Process]:
    """A process and its children as they are now (gunicorn may have replaced a worker since the start)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _own_cpu() -> float:
    """This process and the children it has reaped (the load generator's CLI runs; the stack's are reaped later)."""
    me = psutil.Process().cpu_times()
    return me.user + me.system + me.children_user + me.children_system


def _busy(times: psutil._common.scputimes) -> float:
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal


@dataclass
class Sampler:
    """``groups``: name -> the pid of a process whose whole family counts under that name (e.g. web: gunicorn's
    master). Call ``sample()`` every few seconds, then ``summary()``."""

    groups: dict[str, int]
    started: float = field(default_factory=time.monotonic)
    samples: list[dict] = field(default_factory=list)
    _first_cpu: dict[str, float] = field(default_factory=dict)
    _others_start: dict[int, tuple[str, float]] = field(default_factory=dict)
    _machine_start: psutil._common.scputimes | None = None
    _own_start: float = 0.0

    def __post_init__(self) -> None:
        self._first_cpu = {name: _cpu_seconds(family(pid)) for name, pid in self.groups.items()}
        self._others_start = self._others()
        self._machine_start = psutil.cpu_times()
        self._own_start = _own_cpu()

    def sample(self) -> None:
        row = {"t": round(time.monotonic() - self.started, 1)}
        for name, pid in self.groups.items():
            processes = family(pid)
            row[f"{name}_cpu_s"] = round(_cpu_seconds(processes), 2)
            row[f"{name}_rss_mib"] = round(_rss(processes) / 2**20, 1)
        self.samples.append(row)

    def summary(self) -> dict:
        """Per group: CPU used (seconds, mean and busiest-10-s share of one core), memory at the start, peak and end;
        the machine's busy share; the busiest other processes by name (the shared services among them: RabbitMQ, SeaweedFS and dockerd serve the
        benchmark too)."""
        wall = time.monotonic() - self.started
        out: dict = {"seconds": round(wall, 1)}
        for name in self.groups:
            cpu = [row[f"{name}_cpu_s"] for row in self.samples]
            rss = [row[f"{name}_rss_mib"] for row in self.samples]
            times = [row["t"] for row in self.samples]
            window = [
                (cpu[j] - cpu[i]) / (times[j] - times[i])
                for i in range(len(times)) for j in range(i + 1, len(times)) if 9.5 <= times[j] - times[i] <= 15
            ]
            out[name] = {
                "cpu_seconds": round(cpu[-1] - self._first_cpu[name], 1) if cpu else None,
                "cpu_mean_percent": round(100 * (cpu[-1] - self._first_cpu[name]) / wall, 1) if cpu else None,
                "cpu_peak_10s_percent": round(100 * max(window), 1) if window else None,
                "rss_mib_start": rss[0] if rss else None, "rss_mib_peak": max(rss) if rss else None,
                "rss_mib_end": rss[-1] if rss else None,
            }
        end, start = psutil.cpu_times(), self._machine_start
        busy = _busy(end) - _busy(start)
        out["machine_busy_percent"] = round(100 * busy / max(1e-9, busy + end.idle + end.iowait - start.idle - start.iowait), 1)
        out["machine_cores"] = os.cpu_count()
        out["load_generator_cpu_seconds"] = round(_own_cpu() - self._own_start, 1)
        ours = {process.pid for pid in self.groups.values() for process in family(pid)} | {os.getpid()}
        ours |= {child.pid for child in psutil.Process().children(recursive=True)}
        now = self._others()
        used: dict[str, float] = {}
        for pid, (name, cpu) in now.items():
            if pid in self._others_start and pid not in ours:
                used[name] = used.get(name, 0.0) + cpu - self._others_start[pid][1]
        out["others_busiest"] = [
            {"process": name, "cpu_seconds": round(seconds, 1)}
            for name, seconds in sorted(used.items(), key=lambda item: -item[1])[:6] if seconds >= 1
        ]
        return out

    @staticmethod
    def _others() -> dict[int, tuple[str, float]]:
        """pid -> (process name, CPU seconds so far). Names only: other people's command lines may hold secrets."""
        found = {}
        for process in psutil.process_iter(["name", "cpu_times"]):
            info = process.info
            if info["cpu_times"] is not None:
                found[process.pid] = (info["name"] or "?", info["cpu_times"].user + info["cpu_times"].system)
        return found
