"""/metrics on the running stack: protected (a bearer token or an admin), and the numbers move as jobs run."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from tests.admin_helpers import SLEEPER, STRUCTURED_LOGGER, Samples, metric, parse_metrics, start_gunicorn, wait_for
from tests.conftest import make_user, make_zip
from tests.package_index import probe_requirements_of_its_own
from tests.web import log_in

TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def metrics_url(test_env, log_dir, producer) -> Iterator[str]:
    """A web process like live_server's (same database, broker, store) with LABQUEUE_METRICS_TOKEN set."""
    process, url = start_gunicorn({**test_env, "LABQUEUE_METRICS_TOKEN": TOKEN}, log_dir, "web-metrics", STRUCTURED_LOGGER)
    yield url
    process.stop()


def scrape(url: str) -> Samples:
    response = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse_metrics(response.text)


def test_metrics_need_the_token_or_an_admin(metrics_url: str, live_server: str, test_env) -> None:
    anonymous = requests.get(metrics_url + "/metrics", timeout=30)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.get(metrics_url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=30)
    assert wrong.status_code == 401
    researcher = make_user(test_env, metrics_url)
    assert researcher.get("/metrics").status_code == 403
    admin = make_user(test_env, metrics_url, admin=True)
    assert admin.get("/metrics").status_code == 200  # an admin's API token
    assert "labqueue_jobs_submitted_total" in log_in(admin).get("/metrics").text  # an admin's browser session
    unset = requests.get(live_server + "/metrics", headers={"Authorization": "Bearer "}, timeout=30)
    assert unset.status_code == 401  # no token configured there: only admins


def test_metrics_move_as_jobs_run(metrics_url: str, test_env, python_consumer) -> None:
    user = make_user(test_env, metrics_url)
    before = scrape(metrics_url)
    zips = [make_zip({"code.py": SLEEPER.format(seconds=6)}, top=f"metered-{i}") for i in range(4)]
    job_ids = [user.submit(z).json()["id"] for z in zips]

    # Four jobs on a consumer with two slots: two run, two wait in RabbitMQ; heartbeats (every 10 s) report the busy slots.
    wait_for(lambda: metric(scrape(metrics_url), "labqueue_queue_depth", runtime="python") >= 1, 30, "jobs waiting in the broker")
    wait_for(lambda: metric(scrape(metrics_url), "labqueue_consumer_busy_slots", runtime="python") >= 1, 30, "busy slots")
    during = scrape(metrics_url)
    assert metric(during, "labqueue_jobs", runtime="python", state="running") + metric(during, "labqueue_jobs", runtime="python", state="queued") >= 2
    jobs = [user.wait(job_id, timeout=180) for job_id in job_ids]
    assert {job["status"] for job in jobs} == {"succeeded"}
    after = scrape(metrics_url)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("labqueue_jobs_submitted_total", runtime="python") == 4
    assert delta("labqueue_jobs_finished_total", runtime="python", state="succeeded") == 4
    assert delta("labqueue_upload_bytes_total", runtime="python") == sum(len(z) for z in zips)
    assert delta("labqueue_job_run_seconds_count", runtime="python") == 4
    assert delta("labqueue_job_run_seconds_sum", runtime="python") >= 4 * 6
    assert delta("labqueue_job_run_seconds_bucket", runtime="python", le="5.0") == 0
    assert delta("labqueue_job_run_seconds_bucket", runtime="python", le="60.0") == 4
    assert delta("labqueue_job_queue_wait_seconds_count", runtime="python") == 4
    assert delta("labqueue_job_queue_wait_seconds_bucket", runtime="python", le="5.0") <= 2  # two waited for a slot
    assert delta("labqueue_job_queue_wait_seconds_sum", runtime="python") >= 2 * 5
    assert delta("labqueue_job_cpu_seconds_total", runtime="python") > 0
    assert metric(after, "labqueue_consumers", runtime="python") >= 1 and metric(after, "labqueue_consumer_slots", runtime="python") >= 2
    assert metric(after, "labqueue_broker_up") == 1
    wait_for(lambda: metric(scrape(metrics_url), "labqueue_queue_depth", runtime="python") == 0, 30, "an empty queue")
    wait_for(lambda: metric(scrape(metrics_url), "labqueue_consumer_busy_slots", runtime="python") == 0, 30, "idle slots")


def test_environment_cache_hits_and_builds_are_counted(metrics_url: str, test_env, python_consumer) -> None:
    user = make_user(test_env, metrics_url)
    project = make_zip({"code.py": "import labqueue_probe\nprint('answer', labqueue_probe.ANSWER)\n", "requirements.txt": probe_requirements_of_its_own()})
    before = scrape(metrics_url)

    first = user.wait(user.submit(project).json()["id"], timeout=600)
    second = user.wait(user.submit(project).json()["id"], timeout=300)

    assert (first["status"], second["status"]) == ("succeeded", "succeeded"), (first, second)
    after = scrape(metrics_url)
    for result in ("built", "cached"):
        labels = {"runtime": "python", "result": result}
        assert metric(after, "labqueue_environment_images_total", **labels) - metric(before, "labqueue_environment_images_total", **labels) == 1
