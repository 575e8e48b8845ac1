"""The execution engine on the real Docker engine: Octave, requirements environments, cancel, a consumer killed mid-job."""

from __future__ import annotations

import io
import os
import signal
import tarfile
import time
from collections.abc import Iterator
from datetime import timedelta

import docker
import docker.errors
import pytest

from consumer import environments
from consumer.config import BuildSettings
from consumer.environments import ENV_LABEL, ENV_REPOSITORY, EnvironmentCache
from consumer.runtimes import load_runtime
from consumer.sandbox import ENV_DIR, LABEL_CONSUMER
from tests.conftest import ApiUser, leftovers, make_zip, read_zip, start_consumer
from tests.package_index import probe_requirements_of_its_own

OCTAVE_FFT = """
pkg load signal
fs = 1000; t = (0:fs-1) / fs;
x = sin(2*pi*50*t) + 0.5*sin(2*pi*120*t);
spectrum = abs(fft(x));
[~, index] = max(spectrum(1:fs/2));
peak = (index - 1) * fs / numel(x);
mkdir('output');
fid = fopen('output/peak.txt', 'w'); fprintf(fid, '%d\\n', peak); fclose(fid);
b = fir1(20, 0.3); disp(numel(b));
printf('peak at %d Hz\\n', peak);
"""


def test_octave_fft_finds_the_peak(user: ApiUser, matlab_consumer) -> None:
    response = user.submit(make_zip({"code.m": OCTAVE_FFT}, top="fft"), "fft.zip", runtime="matlab")
    assert response.status_code == 201, response.text
    job = user.wait(response.json()["id"])
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "succeeded", log
    assert job["runtime"] == "matlab"
    assert read_zip(user.get(f"/api/v1/jobs/{job['id']}/output").content) == {"peak.txt": b"50\n"}
    assert "peak at 50 Hz" in log


def test_runtime_must_agree_with_the_entry_file(user: ApiUser) -> None:
    response = user.submit(make_zip({"code.py": "print(1)"}), runtime="matlab")
    assert response.status_code == 422
    assert response.json()["error"] == "runtime_mismatch"


@pytest.fixture(scope="module", autouse=True)
def remove_environment_images() -> Iterator[None]:
    """Environment tags include the index URL, unique to this session (a random name): remove what it built."""
    client = docker.from_env()
    before = {image.id for image in client.images.list(filters={"label": ENV_LABEL})}
    yield
    for image in client.images.list(filters={"label": ENV_LABEL}):
        if image.id not in before:
            client.images.remove(image.id, force=True)
    client.close()


USES_PROBE = "import labqueue_probe\nprint('answer', labqueue_probe.ANSWER)\n"


def test_requirements_build_once_then_reuse(user: ApiUser, python_consumer) -> None:
    project = make_zip({"code.py": USES_PROBE, "requirements.txt": probe_requirements_of_its_own()})
    first = user.wait(user.submit(project).json()["id"])
    first_log = user.get(f"/api/v1/jobs/{first['id']}/log").text
    assert first["status"] == "succeeded", first_log
    assert "building environment" in first_log and "answer 42" in first_log
    assert first_log.index("building environment") < first_log.index("answer 42"), "the build log heads the job's log"

    second = user.wait(user.submit(project).json()["id"])
    second_log = user.get(f"/api/v1/jobs/{second['id']}/log").text
    assert second["status"] == "succeeded"
    assert "found in cache" in second_log and "building environment" not in second_log


def test_failed_requirements_build_fails_the_job_with_pip_error(user: ApiUser, python_consumer) -> None:
    project = make_zip({"code.py": "print('never runs')", "requirements.txt": "labqueue-does-not-exist==9.9\n"})
    job = user.wait(user.submit(project).json()["id"])
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "failed"
    assert "requirements.txt" in job["reason"]
    assert "labqueue-does-not-exist" in log and "never runs" not in log


SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep({seconds})\nprint('{marker}')\n"


def test_cancel_a_running_job(user: ApiUser, python_consumer) -> None:
    job_id = user.submit(make_zip({"code.py": SLEEPER.format(seconds=120, marker="not cancelled")})).json()["id"]
    user.wait(job_id, until={"running"})
    response = user.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202
    job = user.wait(job_id, timeout=30)
    assert job["status"] == "cancelled"
    assert "not cancelled" not in user.get(f"/api/v1/jobs/{job_id}/log").text
    assert user.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 409


def test_cancel_a_queued_job_it_never_starts(user: ApiUser, python_consumer, test_env) -> None:
    # Fill the consumer's two slots so the third job waits in the queue.
    blockers = [user.submit(make_zip({"code.py": SLEEPER.format(seconds=8, marker="blocker done")})).json()["id"] for _ in range(2)]
    for blocker in blockers:
        user.wait(blocker, until={"running"})
    queued = user.submit(make_zip({"code.py": "print('this must never run')"})).json()
    assert queued["status"] == "queued"
    response = user.post(f"/api/v1/jobs/{queued['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    for blocker in blockers:
        assert user.wait(blocker)["status"] == "succeeded"
    time.sleep(3)  # the consumer has received the cancelled job by now; it must not have run it
    job = user.get(f"/api/v1/jobs/{queued['id']}").json()
    assert job["status"] == "cancelled"
    assert "this must never run" not in user.get(f"/api/v1/jobs/{queued['id']}/log").text


@pytest.fixture
def docker_client() -> docker.DockerClient:
    client = docker.from_env()
    yield client
    client.close()


def test_consumer_killed_mid_job_restarts_clean_and_job_completes(user: ApiUser, python_consumer, test_env, log_dir, docker_client) -> None:
    name = python_consumer.name
    job_id = user.submit(make_zip({"code.py": SLEEPER.format(seconds=6, marker="finished after restart")})).json()["id"]
    user.wait(job_id, until={"running"})
    selector = {"label": f"{LABEL_CONSUMER}={name}"}
    # The "running" event goes out just before the container starts: look for it created or started.
    assert docker_client.containers.list(all=True, filters=selector), "the job's container should exist"

    python_consumer.stop(signal.SIGKILL)
    restarted = start_consumer(test_env, log_dir, "python", slots=2, name=name)
    python_consumer.replace(restarted)

    job = user.wait(job_id, timeout=120)
    assert job["status"] == "succeeded"
    assert job["attempt"] == 2
    assert "finished after restart" in user.get(f"/api/v1/jobs/{job_id}/log").text
    assert leftovers(docker_client, selector) == []


def test_concurrent_jobs_with_the_same_requirements_build_once(user: ApiUser, python_consumer) -> None:
    project = make_zip({"code.py": USES_PROBE, "requirements.txt": probe_requirements_of_its_own()})
    job_ids = [user.submit(project).json()["id"] for _ in range(2)]
    logs = []
    for job_id in job_ids:
        assert user.wait(job_id)["status"] == "succeeded"
        logs.append(user.get(f"/api/v1/jobs/{job_id}/log").text)
    assert sum("building environment" in log for log in logs) == 1, logs
    assert sum("found in cache" in log for log in logs) == 1, logs


def installed_tree(marker: str) -> Iterator[bytes]:
    """What a build's get_archive of ENV_DIR streams: a tar of the folder with what was installed in it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(os.path.basename(ENV_DIR))
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        data = marker.encode()
        member = tarfile.TarInfo(f"{os.path.basename(ENV_DIR)}/marker")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    yield buffer.getvalue()


def test_environment_images_are_pruned_least_recently_used_first(docker_client, test_env) -> None:
    runtime = load_runtime("python", test_env)
    cache = EnvironmentCache(docker_client, budget_bytes=2**60, build=BuildSettings.from_env(test_env))
    older, newer = (f"{ENV_REPOSITORY}:prune-test-{time.time_ns()}-{age}" for age in ("older", "newer"))
    cache.commit(runtime, older, installed_tree("older"))
    cache.commit(runtime, newer, installed_tree("newer"))
    try:
        cache.budget_bytes = 1  # everything is over budget now: all but the one in use go, oldest first
        cache.prune(keep=newer)
        tags = {tag for image in docker_client.images.list(filters={"label": ENV_LABEL}) for tag in image.tags}
        assert newer in tags and older not in tags
    finally:
        for tag in (older, newer):
            try:
                docker_client.images.remove(tag)
            except docker.errors.ImageNotFound:
                pass


def test_an_environment_image_is_the_runtime_image_with_the_tree_and_its_bin_first_on_path(docker_client, test_env) -> None:
    runtime = load_runtime("python", test_env)
    cache = EnvironmentCache(docker_client, budget_bytes=2**60, build=BuildSettings.from_env(test_env))
    tag = f"{ENV_REPOSITORY}:commit-test-{time.time_ns()}"
    cache.commit(runtime, tag, installed_tree("installed"))
    try:
        image = docker_client.images.get(tag)
        base = docker_client.images.get(runtime.image)
        assert image.attrs["Config"]["Cmd"] == base.attrs["Config"]["Cmd"] and image.attrs["Config"]["User"] == base.attrs["Config"]["User"]
        assert f"PATH={ENV_DIR}/bin:" in " ".join(image.attrs["Config"]["Env"])
        assert image.labels[ENV_LABEL] == "python" and not any(key.startswith("labqueue.job") for key in image.labels)
    finally:
        docker_client.images.remove(tag)


def test_a_used_environment_is_retagged_at_most_once_per_interval(docker_client, test_env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-tagging marks an environment as used for pruning; a tag used a moment ago is not written again."""
    runtime = load_runtime("python", test_env)
    cache = EnvironmentCache(docker_client, budget_bytes=2**60, build=BuildSettings.from_env(test_env))
    tag = f"{ENV_REPOSITORY}:touch-test-{time.time_ns()}"
    docker_client.images.get(runtime.image).tag(*tag.split(":", 1))

    def last_tagged() -> str:
        return docker_client.images.get(tag).attrs["Metadata"]["LastTagTime"]

    try:
        tagged = last_tagged()
        assert cache._touch(tag) and last_tagged() == tagged  # used just now: no write
        monkeypatch.setattr(environments, "TOUCH_INTERVAL", timedelta(0))
        assert cache._touch(tag) and last_tagged() > tagged
        assert not cache._touch(f"{ENV_REPOSITORY}:no-such-environment")
    finally:
        docker_client.images.remove(tag)
