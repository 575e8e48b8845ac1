"""`docker compose up -d` end to end, on this machine (no registry: the stand-in images of compose/.env.local).

One stack for the module, under a project name of its own, web on a free loopback port; the tests run in order:
up in order and healthy, a Python and an Octave job, three consumers running three jobs at once, a consumer from
compose/worker.yml as if on another machine, `down` and `up` with the data kept. `down -v` at the end.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests

from consumer.egress import LABEL_EGRESS
from tests.compose.conftest import TEST_IMAGES, Api, Compose, make_api, remove_job_leftovers, run, wait_health, write_env_file
from tests.conftest import free_port, make_zip, read_zip
from tests.package_index import PackageIndex, probe_requirements_of_its_own

pytestmark = pytest.mark.timeout(1800)

FILES = ("docker-compose.yml", "docker-compose.override.yml", "compose/expose.yml")
PYTHON_JOB = make_zip(
    {"code.py": 'import os\nos.makedirs("output", exist_ok=True)\nopen("output/result.txt", "w").write(f"python {6 * 7}\\n")\n'}
)
OCTAVE_JOB = make_zip(
    {"code.m": 'mkdir("output");\nf = fopen("output/result.txt", "w");\nfprintf(f, "octave %d\\n", 6 * 7);\nfclose(f);\n'}
)
SLEEP_JOB = make_zip({"code.py": "import time\ntime.sleep(15)\n"})
USES_PROBE = "import labqueue_probe\nprint('answer', labqueue_probe.ANSWER)\n"
MAX_TIME_LIMIT = 7200


@dataclass
class Stack:
    compose: Compose
    env: dict[str, str]
    base_url: str
    engine: str  # the Docker host's name: consumers' names start with it
    api: Api | None = None
    outputs: dict[str, bytes] = field(default_factory=dict)  # job id -> its output zip, kept across down/up

    def consumer(self, service: str, number: int = 1, project: str | None = None) -> str:
        return f"{self.engine}-{project or self.compose.project}-{service}-{number}"


@pytest.fixture(scope="module")
def stack(built: None, package_index: PackageIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    client = docker.from_env()
    # Broker and S3 are published (compose/expose.yml) on the Docker bridge's own address, where containers of
    # another project reach them as another machine would, and nothing beyond this host does.
    bridge = client.networks.get("bridge").attrs["Options"]["com.docker.network.bridge.name"]
    gateway = run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).split()[3].split("/")[0]
    port = free_port()
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env = write_env_file(
        env_file,
        LABQUEUE_WEB_PORT=str(port),
        LABQUEUE_WEB_WORKERS="2",
        # one slot each: three jobs running at once need three consumers
        LABQUEUE_PYTHON_SLOTS="1",
        LABQUEUE_EXPOSE_BIND=gateway,
        LABQUEUE_BROKER_PORT=str(free_port()),
        LABQUEUE_S3_PORT=str(free_port()),
        LABQUEUE_RABBITMQ_UI_PORT=str(free_port()),
        LABQUEUE_MQTT_PORT=str(free_port()),
        # not the default: the broker's consumer timeout must follow it
        LABQUEUE_MAX_TIME_LIMIT=str(MAX_TIME_LIMIT),
        # environment builds reach the test's package index through compose's build proxy
        LABQUEUE_PIP_INDEX_URL=package_index.url,
        LABQUEUE_BUILD_PROXY_NETWORK=package_index.name,
    )
    compose = Compose(f"labqueue-test-{secrets.token_hex(4)}", env_file, FILES)
    stack = Stack(compose, env, f"http://127.0.0.1:{port}", client.info()["Name"])
    try:
        compose("up", "-d", "--wait")
        yield stack
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "30")
        remove_job_leftovers(f"{stack.engine}-{compose.project}")


def containers(project: str) -> dict[str, list]:
    by_service: dict[str, list] = {}
    for c in docker.from_env().containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"}):
        by_service.setdefault(c.labels["com.docker.compose.service"], []).append(c)
    return by_service


def test_up_comes_up_in_order_and_healthy(stack: Stack) -> None:
    services = containers(stack.compose.project)
    for name in ("postgres", "rabbitmq", "s3", "web"):
        assert services[name][0].attrs["State"]["Health"]["Status"] == "healthy", name
    for name in ("producer", "consumer-python", "consumer-matlab"):
        assert services[name][0].status == "running", name
    for name in ("migrate", "worker-python", "worker-matlab"):
        state = services[name][0].attrs["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), name

    report = wait_health(stack.base_url, {"python": 1, "matlab": 1})
    assert {c["name"] for c in report["consumers"]} >= {stack.consumer("consumer-python"), stack.consumer("consumer-matlab")}

    # published: web on loopback; with compose/expose.yml, broker (AMQP, MQTT) and S3 on the bridge's address and the broker's
    # management UI on loopback; nothing else
    published = {
        name: {
            (b["HostIp"], b["HostPort"])
            for bindings in (c[0].attrs["NetworkSettings"]["Ports"] or {}).values()
            for b in bindings or []
        }
        for name, c in services.items()
    }
    gateway = stack.env["LABQUEUE_EXPOSE_BIND"]
    assert published.pop("web") == {("127.0.0.1", stack.env["LABQUEUE_WEB_PORT"])}
    assert published.pop("rabbitmq") == {
        (gateway, stack.env["LABQUEUE_BROKER_PORT"]),
        (gateway, stack.env["LABQUEUE_MQTT_PORT"]),  # for devices
        ("127.0.0.1", stack.env["LABQUEUE_RABBITMQ_UI_PORT"]),
    }
    assert published.pop("s3") == {(gateway, stack.env["LABQUEUE_S3_PORT"])}
    assert not any(published.values()), published

    # the management plugin answers, with the broker's user
    overview = requests.get(
        f"http://127.0.0.1:{stack.env['LABQUEUE_RABBITMQ_UI_PORT']}/api/overview",
        auth=("labqueue", stack.env["LABQUEUE_RABBITMQ_PASSWORD"]),
        timeout=10,
    )
    assert overview.status_code == 200, overview.text

    # state in named volumes
    volumes = docker.from_env().volumes.list(filters={"label": f"com.docker.compose.project={stack.compose.project}"})
    assert {v.attrs["Labels"]["com.docker.compose.volume"] for v in volumes} == {"postgres-data", "rabbitmq-data", "s3-data"}

    # the broker keeps a job's delivery for the longest job plus 900 s, from the one setting
    timeout = stack.compose("exec", "-T", "rabbitmq", "rabbitmqctl", "eval", "application:get_env(rabbit, consumer_timeout).")
    assert int(timeout.strip().removeprefix("{ok,").removesuffix("}")) == (MAX_TIME_LIMIT + 900) * 1000

    # consumers are not root, only in the Docker socket's group
    ids = stack.compose("exec", "-T", "consumer-python", "sh", "-c", "id -u; id -G").split()
    assert ids == ["10001", stack.env["LABQUEUE_DOCKER_GID"]]


def test_a_python_and_an_octave_job(stack: Stack) -> None:
    stack.api = make_api(stack.compose, stack.base_url)
    events = stack.api.open_events()
    python_id = stack.api.submit(PYTHON_JOB)
    octave_id = stack.api.submit(OCTAVE_JOB)
    assert stack.api.heard_end(events, python_id)["status"] == "succeeded"  # live updates run under compose too
    for job_id, runtime, text in ((python_id, "python", b"python 42\n"), (octave_id, "matlab", b"octave 42\n")):
        job = stack.api.wait(job_id)
        assert job["status"] == "succeeded", job
        assert job["consumer"] == stack.consumer(f"consumer-{runtime}")
        output = stack.api.output(job_id)
        assert read_zip(output) == {"result.txt": text}
        stack.outputs[job_id] = output


def test_a_job_with_requirements_builds_through_compose_build_proxy(stack: Stack) -> None:
    assert stack.api is not None, "needs the user of test_a_python_and_an_octave_job"
    job_id = stack.api.submit(make_zip({"code.py": USES_PROBE, "requirements.txt": probe_requirements_of_its_own()}))
    job = stack.api.wait(job_id)
    log = stack.api.log(job_id)
    assert job["status"] == "succeeded", log
    assert "building environment" in log and "answer 42" in log
    proxies = docker.from_env().containers.list(filters={"label": LABEL_EGRESS})
    assert TEST_IMAGES["LABQUEUE_BUILD_PROXY_IMAGE"] in {tag for c in proxies for tag in c.image.tags}, "compose's build proxy"


def test_three_consumers_run_three_jobs_at_once(stack: Stack) -> None:
    assert stack.api is not None, "needs the user of test_a_python_and_an_octave_job"
    stack.compose("up", "-d", "--scale", "consumer-python=3")
    wait_health(stack.base_url, {"python": 3})
    jobs = [stack.api.submit(SLEEP_JOB) for _ in range(3)]

    deadline, statuses = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        statuses = [stack.api.job(j)["status"] for j in jobs]
        if statuses == ["running"] * 3:
            break
        assert "succeeded" not in statuses, f"a job ended before all three ran at once: {statuses}"
        time.sleep(0.5)
    assert statuses == ["running"] * 3, statuses

    finished = [stack.api.wait(j) for j in jobs]
    assert [j["status"] for j in finished] == ["succeeded"] * 3
    assert {j["consumer"] for j in finished} == {stack.consumer("consumer-python", n) for n in (1, 2, 3)}


def test_a_consumer_on_another_machine_with_worker_yml(stack: Stack, tmp_path: Path) -> None:
    assert stack.api is not None, "needs the user of test_a_python_and_an_octave_job"
    env = stack.env
    gateway = env["LABQUEUE_EXPOSE_BIND"]
    # the three settings, plus what every consumer machine has: its Docker socket's group, the images to use
    settings = {
        "LABQUEUE_BROKER_URL": f"amqp://labqueue:{env['LABQUEUE_RABBITMQ_PASSWORD']}@{gateway}:{env['LABQUEUE_BROKER_PORT']}/labqueue",
        "LABQUEUE_S3_ENDPOINT": f"{gateway}:{env['LABQUEUE_S3_PORT']}",
        "LABQUEUE_S3_ACCESS_KEY": env["LABQUEUE_S3_ACCESS_KEY"],
        "LABQUEUE_S3_SECRET_KEY": env["LABQUEUE_S3_SECRET_KEY"],
        "LABQUEUE_DOCKER_GID": env["LABQUEUE_DOCKER_GID"],
        **{key: env[key] for key in env if key.endswith("_IMAGE")},
    }
    env_file = tmp_path / "worker.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    worker = Compose(f"{stack.compose.project}-worker", env_file, ("compose/worker.yml",))
    # only the other machine's consumer may take the job
    stack.compose("up", "-d", "--scale", "consumer-python=0")
    try:
        worker("up", "-d", "--wait", "consumer-python")
        name = stack.consumer("consumer-python", project=worker.project)
        deadline = time.monotonic() + 60
        while name not in {c["name"] for c in wait_health(stack.base_url, {"python": 1})["consumers"]}:
            assert time.monotonic() < deadline, f"{name} never showed in /api/v1/health"
            time.sleep(1)
        job_id = stack.api.submit(PYTHON_JOB)
        job = stack.api.wait(job_id)
        assert (job["status"], job["consumer"]) == ("succeeded", name), job
        stack.outputs[job_id] = stack.api.output(job_id)
        assert read_zip(stack.outputs[job_id]) == {"result.txt": b"python 42\n"}
    finally:
        worker("down", "--volumes", "--timeout", "30")
        remove_job_leftovers(f"{stack.engine}-{worker.project}")


def test_down_and_up_keeps_the_data(stack: Stack) -> None:
    assert stack.api is not None and stack.outputs, "needs the jobs of the tests before"
    stack.compose("down", "--timeout", "30")
    assert not containers(stack.compose.project)
    stack.compose("up", "-d", "--wait")
    wait_health(stack.base_url, {"python": 1, "matlab": 1})

    # the database (user, token, jobs), the object store (outputs, the demo dataset) and the broker all kept
    for job_id, output in stack.outputs.items():
        assert stack.api.job(job_id)["status"] == "succeeded"
        assert stack.api.output(job_id) == output
    assert "demo-sensors" in {d["name"] for d in stack.api.call("GET", "/datasets").json()["items"]}
    job = stack.api.wait(stack.api.submit(PYTHON_JOB))
    assert (job["status"], job["consumer"]) == ("succeeded", stack.consumer("consumer-python")), job
