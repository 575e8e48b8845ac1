"""What a job used (wall time, CPU time, peak memory), read from its container's cgroup statistics while it runs:
the cgroup goes with the container, so nothing can be read after the exit."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker.errors
import requests

LOGGER = logging.getLogger(__name__)

USAGE_SAMPLE_SECONDS = 0.25
FIRST_SAMPLE_SECONDS = 0.5


@dataclass
class Usage:
    """What the engine reports about a run; peak memory and CPU come from the container's cgroup statistics."""

    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None


def docker_time(stamp: str) -> float:
    """Seconds since the epoch of a time as Docker writes it (RFC 3339, nanoseconds cut to microseconds)."""
    return datetime.fromisoformat(stamp).timestamp()


def cpu_with_tail(samples: list[tuple[float, float]], started: float, finished: float, cpus: float) -> float | None:
    """The CPU seconds of a run, the time after the last sample included: up to one sampling interval at the end is
    never measured, so it is extrapolated at the rate of the last interval, at most the job's CPUs (a job burning 2 s
    of CPU otherwise shows about 1.9). ``samples`` are (Docker's time of the reading, CPU seconds); all times are
    Docker's own (each reading's, the container's start and finish), so a slow stats call does not skew the rate.
    None without a sample."""
    points = [(started, 0.0), *samples]
    if len(points) < 2:
        return None
    (t0, c0), (t1, c1) = points[-2:]
    rate = min(max((c1 - c0) / max(t1 - t0, 1e-3), 0.0), cpus)
    return round(c1 + rate * max(finished - t1, 0.0), 3)


class UsageSampler:
    """Samples one container's statistics into ``usage`` from a thread of its own while the job runs."""

    def __init__(self, job_id: str, cpus: float, usage: Usage) -> None:
        self.job_id = job_id
        self.cpus = cpus
        self.usage = usage
        self._cpu_samples: deque[tuple[float, float]] = deque(maxlen=2)  # (Docker's time of the reading, CPU seconds)

    def sample(self, container: Any, exited: threading.Event) -> None:
        """Sample the container's cgroup statistics while it runs: peak memory and CPU time.

        The first sample waits FIRST_SAMPLE_SECONDS: Docker answers most stats calls at the next tick of its
        once-a-second collector, so for a job that ends sooner the answer came after the exit and was thrown away
        below, having cost dockerd and containerd ~5 ms of CPU. Such short jobs report no CPU time or peak memory.
        """
        if exited.wait(FIRST_SAMPLE_SECONDS):
            return
        while True:
            try:
                stats = container.stats(stream=False, one_shot=True)
            except (docker.errors.APIError, requests.RequestException):
                LOGGER.debug("job %s: no stats", self.job_id, exc_info=True)
                stats = {}
            if exited.is_set():
                return  # answered after the exit: the CPU tail is extrapolated from the samples before it
            memory = stats.get("memory_stats") or {}
            peak = memory.get("max_usage") or memory.get("usage")
            if peak:
                self.usage.peak_memory_bytes = max(self.usage.peak_memory_bytes or 0, peak)
            cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
            if cpu and stats.get("read"):
                self.usage.cpu_seconds = round(cpu / 1e9, 3)
                self._cpu_samples.append((docker_time(stats["read"]), cpu / 1e9))
            if exited.wait(USAGE_SAMPLE_SECONDS):
                return

    def add_cpu_tail(self, state: dict[str, Any]) -> None:
        """Complete the CPU time from the exited container's State (its StartedAt and FinishedAt)."""
        samples = list(self._cpu_samples)  # a copy: the sampler may still append
        total = cpu_with_tail(samples, docker_time(state["StartedAt"]), docker_time(state["FinishedAt"]), self.cpus)
        if total is not None:
            self.usage.cpu_seconds = total
