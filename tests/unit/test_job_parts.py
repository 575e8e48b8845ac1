"""The pure parts of a job's life (consumer/job.py's helpers): the outage retry policy on a fake clock, the CPU time
extrapolated past the last usage sample, the reading of docker-py's wait() outcomes and the environment build's
input tar. The parts that talk to Docker and the store are proven against the real servers (tests/integration)."""

from __future__ import annotations

import io
import tarfile
import threading
from typing import Any

import pytest
import requests
import urllib3.exceptions

from consumer.container import exited_within
from consumer.env_build import build_input
from consumer.errors import InfraError
from consumer.retry import Retry
from consumer.sandbox import BUILD_MOUNT, BUILD_REQUIREMENTS, ENV_DIR
from consumer.usage import cpu_with_tail, docker_time
from producer.publisher import PublishError
from storage.archive import JOB_UID
from storage.objects import ObjectMissing, ObjectStoreError


class FakeTime(threading.Event):
    """A shutdown event whose waits pass on a fake clock at once, recording each delay."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.now += timeout
        return self.is_set()

    def clock(self) -> float:
        return self.now


def failing(times: int, error: Exception) -> tuple[Any, list[int]]:
    calls = [0]

    def action() -> str:
        calls[0] += 1
        if calls[0] <= times:
            raise error
        return "done"

    return action, calls


@pytest.mark.parametrize("error", [ObjectStoreError("store down"), PublishError("broker down")])
def test_retry_waits_out_an_outage_with_backoff_then_succeeds(error: Exception) -> None:
    time = FakeTime()
    action, calls = failing(3, error)
    assert Retry("job", time, patience=900, clock=time.clock)("storing the log", action) == "done"
    assert calls[0] == 4
    assert time.waits == [1.0, 2.0, 4.0]


def test_retry_gives_up_with_infra_error_when_the_outage_outlasts_its_patience() -> None:
    time = FakeTime()
    action, calls = failing(1000, ObjectStoreError("store down"))
    with pytest.raises(InfraError, match="storing the result failed: store down"):
        Retry("job", time, patience=60, clock=time.clock)("storing the result", action)
    assert sum(time.waits) <= 60
    assert time.waits == [1.0, 2.0, 4.0, 8.0, 16.0]  # the next delay (30 s) would end past the 60 s
    assert calls[0] == 6


def test_retry_never_waits_for_a_missing_object() -> None:
    time = FakeTime()
    action, calls = failing(1, ObjectMissing("no such key"))
    with pytest.raises(InfraError, match="fetching the input failed: no such key"):
        Retry("job", time, clock=time.clock)("fetching the input", action)
    assert calls[0] == 1 and time.waits == []


def test_retry_stops_at_shutdown() -> None:
    time = FakeTime()
    time.set()
    action, calls = failing(1, ObjectStoreError("store down"))
    with pytest.raises(InfraError):
        Retry("job", time, clock=time.clock)("claiming the job", action)
    assert calls[0] == 1 and time.waits == []


def test_retry_passes_other_errors_through() -> None:
    time = FakeTime()
    action, _calls = failing(1, ValueError("a bug"))
    with pytest.raises(ValueError):
        Retry("job", time, clock=time.clock)("claiming the job", action)


def test_cpu_tail_extrapolates_the_last_intervals_rate() -> None:
    # 0.5 CPU seconds per second over the last interval, 2 s unmeasured after it.
    assert cpu_with_tail([(10.0, 1.0), (11.0, 1.5)], started=9.0, finished=13.0, cpus=2) == 2.5


def test_cpu_tail_from_the_start_with_one_sample() -> None:
    assert cpu_with_tail([(11.0, 1.0)], started=10.0, finished=12.0, cpus=2) == 2.0


def test_cpu_tail_rate_is_capped_at_the_jobs_cpus_and_never_negative() -> None:
    assert cpu_with_tail([(10.0, 0.0), (10.1, 1.0)], started=9.0, finished=12.1, cpus=1) == 3.0
    assert cpu_with_tail([(10.0, 2.0), (11.0, 1.0)], started=9.0, finished=20.0, cpus=1) == 1.0


def test_cpu_tail_without_samples_is_unknown() -> None:
    assert cpu_with_tail([], started=9.0, finished=12.0, cpus=1) is None


def test_cpu_tail_ignores_a_sample_read_after_the_finish() -> None:
    assert cpu_with_tail([(10.0, 1.0), (11.0, 2.0)], started=9.0, finished=10.5, cpus=2) == 2.0


def test_docker_time_reads_nanoseconds_cut_to_microseconds() -> None:
    assert docker_time("2026-01-02T03:04:05.123456+00:00") == pytest.approx(1767323045.123456)


class Waiting:
    """A container whose wait() raises what docker-py raises in each case."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def wait(self, timeout: float) -> dict[str, int]:
        if self.error is not None:
            raise self.error
        return {"StatusCode": 0}


def test_exited_within_tells_still_running_from_the_daemon_gone() -> None:
    assert exited_within(Waiting(None), 1.0) is True
    assert exited_within(Waiting(requests.exceptions.ReadTimeout()), 1.0) is False
    unix_socket_timeout = requests.exceptions.ConnectionError(urllib3.exceptions.ReadTimeoutError(None, "/wait", "timed out"))
    assert exited_within(Waiting(unix_socket_timeout), 1.0) is False
    with pytest.raises(InfraError, match="Docker daemon is unreachable"):
        exited_within(Waiting(requests.exceptions.ConnectionError("connection refused")), 1.0)
    with pytest.raises(InfraError, match="Docker daemon is unreachable"):
        exited_within(Waiting(requests.exceptions.ChunkedEncodingError("cut off")), 1.0)


def test_build_input_holds_the_env_folder_for_the_job_user_and_the_requirements() -> None:
    with tarfile.open(fileobj=io.BytesIO(build_input("numpy==2.1.0\n"))) as tar:
        folder, listing = tar.getmembers()
        assert f"{BUILD_MOUNT}/{folder.name}" == ENV_DIR and folder.isdir()
        assert (folder.uid, folder.gid, folder.mode) == (JOB_UID, JOB_UID, 0o755)
        assert f"{BUILD_MOUNT}/{listing.name}" == BUILD_REQUIREMENTS
        source = tar.extractfile(listing)
        assert source is not None and source.read() == b"numpy==2.1.0\n"
