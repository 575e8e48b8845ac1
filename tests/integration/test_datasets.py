"""Datasets on the real services: upload and describe versions, mount them read-only into jobs through a volume cache
filled once per version, pin versions, and append sensor readings checked row by row."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterator

import docker
import docker.errors
import pytest
import requests
from jsonschema import Draft202012Validator

from consumer.datasets import LABEL_VOLUME
from storage.config import StorageConfig
from storage.dataset_layout import file_key
from storage.objects import ObjectStore
from tests.conftest import ApiUser, make_user, make_zip, read_zip

PREFIX = f"t{secrets.token_hex(3)}"  # every dataset of this module, so its cached volumes can be removed after
READINGS = "equipment_id,timestamp,value\npump-1,2024-03-01T00:00:00Z,1.5\npump-2,2024-03-01T00:00:00+01:00,2.5\n"


def new_name(what: str) -> str:
    return f"{PREFIX}-{what}-{secrets.token_hex(2)}"


def upload(user: ApiUser, name: str, files: dict[str, bytes], description: str = "") -> dict:
    response = user.post(
        "/api/v1/datasets",
        data={"name": name, "description": description},
        files=[("file", (path, data)) for path, data in files.items()],
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    """Removes this module's dataset volumes and their holder containers afterwards."""
    client = docker.from_env()
    yield client
    mine = f"labqueue-dataset-{PREFIX}-"
    for container in client.containers.list(all=True, filters={"label": LABEL_VOLUME}):
        if container.labels[LABEL_VOLUME].startswith(mine):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"label": LABEL_VOLUME}):
        if volume.name.startswith(mine):
            volume.remove(force=True)
    client.close()


@pytest.fixture(scope="module")
def store(test_env: dict[str, str]) -> ObjectStore:
    return ObjectStore(StorageConfig.from_env(test_env))


def test_upload_list_and_describe_versions(user: ApiUser) -> None:
    name = new_name("upload")
    mat = bytes(range(256)) * 40
    first = upload(user, name, {"readings.csv": READINGS.encode(), "calibration.mat": mat}, "line 7 pumps")
    assert first["version"] == 1 and first["ref"] == f"{name}@1" and first["created_by"] == user.name
    files = {entry["path"]: entry for entry in first["files"]}
    assert files["readings.csv"] == {"path": "readings.csv", "size": len(READINGS), "sha256": hashlib.sha256(READINGS.encode()).hexdigest(), "rows": 2}
    assert files["calibration.mat"]["rows"] is None and files["calibration.mat"]["size"] == len(mat)
    assert first["total_bytes"] == len(READINGS) + len(mat) and first["file_count"] == 2

    second = upload(user, name, {"readings.csv": b"equipment_id,timestamp,value\n"})
    assert second["version"] == 2 and [entry["path"] for entry in second["files"]] == ["readings.csv"]

    listed = {item["name"]: item for item in user.get("/api/v1/datasets").json()["items"]}
    assert listed[name]["latest_version"] == 2 and listed[name]["description"] == "line 7 pumps" and listed[name]["owner"] == user.name
    described = user.get(f"/api/v1/datasets/{name}").json()
    assert [version["version"] for version in described["versions"]] == [2, 1]
    assert described["versions"][1]["files"] == first["files"]
    assert user.get(f"/api/v1/datasets/{PREFIX}-missing").status_code == 404

    page = user.get(f"/datasets/{name}?version=1")
    assert page.status_code == 200
    assert "calibration.mat" in page.text and "<td>pump-2</td>" in page.text  # the CSV preview
    assert name in user.get("/datasets").text
    assert f"{name} (v2)" in user.get("/upload").text  # the upload form's picker


def test_zip_is_unpacked_and_checked_like_job_zips(user: ApiUser) -> None:
    name = new_name("zip")
    version = upload(user, name, {"sensors.zip": make_zip({"a.csv": READINGS, "raw/b.bin": b"\x00\x01"}, top="sensors")})
    assert sorted(entry["path"] for entry in version["files"]) == ["a.csv", "raw/b.bin"]

    slip = io.BytesIO()
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("../escape.csv", READINGS)
    refused = user.post("/api/v1/datasets", data={"name": new_name("slip")}, files={"file": ("evil.zip", slip.getvalue())})
    assert refused.status_code == 422 and refused.json()["error"] == "zip_slip"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.csv", b"0" * (64 * 2**20))
    refused = user.post("/api/v1/datasets", data={"name": new_name("bomb")}, files={"file": ("bomb.zip", bomb.getvalue())})
    assert refused.status_code == 422 and refused.json()["error"] == "zip_bomb"
    assert not [item for item in user.get("/api/v1/datasets").json()["items"] if "slip" in item["name"] or "bomb" in item["name"]]


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"name": "Bad Name"}, 422, "bad_name"),
        ({"name": ""}, 400, "bad_request"),
    ],
)
def test_bad_dataset_requests(user: ApiUser, fields: dict, status: int, code: str) -> None:
    response = user.post("/api/v1/datasets", data=fields, files={"file": ("a.csv", READINGS)})
    assert response.status_code == status and response.json()["error"] == code


def test_no_file_and_duplicates_are_refused(user: ApiUser) -> None:
    name = new_name("dup")
    assert user.post("/api/v1/datasets", data={"name": name}).json()["error"] == "no_file"
    twice = user.post("/api/v1/datasets", data={"name": name}, files=[("file", ("a.csv", READINGS)), ("file", ("a.csv", READINGS))])
    assert twice.status_code == 422 and twice.json()["error"] == "duplicate_name"
    assert user.get(f"/api/v1/datasets/{name}").status_code == 404


def test_only_the_owner_or_an_admin_adds_versions(user: ApiUser, test_env, live_server) -> None:
    name = new_name("owned")
    upload(user, name, {"a.csv": READINGS.encode()})
    stranger = make_user(test_env, live_server)
    response = stranger.post("/api/v1/datasets", data={"name": name}, files={"file": ("b.csv", READINGS)})
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert stranger.post(f"/api/v1/datasets/{name}/readings", json=[]).status_code == 403
    admin = make_user(test_env, live_server, admin=True)
    assert admin.post("/api/v1/datasets", data={"name": name}, files={"file": ("b.csv", READINGS)}).status_code == 201


READS_DATA = r"""
import hashlib, json, os
from pathlib import Path
root = Path("/data/{name}")
report = {{"files": {{}}, "writes": {{}}, "env": os.environ["LABQUEUE_DATASETS"]}}
for path in sorted(root.rglob("*")):
    if path.is_file():
        report["files"][str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
for target in (root / "new.txt", root / "readings.csv", Path("/data/other.txt")):
    try:
        with open(target, "a") as handle:
            handle.write("x")
        report["writes"][str(target)] = "written"
    except OSError as exc:
        report["writes"][str(target)] = exc.strerror
Path("output").mkdir(exist_ok=True)
Path("output/report.json").write_text(json.dumps(report))
"""


def run_reader(user: ApiUser, name: str, choice: str) -> tuple[dict, dict, str]:
    response = user.submit(make_zip({"code.py": READS_DATA.format(name=name)}), datasets=choice)
    assert response.status_code == 201, response.text
    job = user.wait(response.json()["id"])
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert job["status"] == "succeeded", log
    return job, json.loads(read_zip(user.get(f"/api/v1/jobs/{job['id']}/output").content)["report.json"]), log


def holder_of(client: docker.DockerClient, name: str) -> tuple[str, str, str]:
    """(volume, its creation time, its holder container's id) of the dataset's one cached version."""
    holders = [c for c in client.containers.list(all=True, filters={"label": LABEL_VOLUME}) if c.name.startswith(f"labqueue-dataset-{name}-v")]
    assert len(holders) == 1, [c.name for c in holders]
    volume = client.volumes.get(holders[0].name)
    return volume.name, volume.attrs["CreatedAt"], holders[0].id


def test_jobs_read_the_dataset_read_only_and_the_second_uses_the_cached_volume(user: ApiUser, python_consumer, docker_client) -> None:
    name = new_name("mount")
    files = {"readings.csv": READINGS.encode(), "raw/trace.bin": secrets.token_bytes(300_000)}
    upload(user, name, {"data.zip": make_zip(files, top=None)})
    expected = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}

    first, report, log = run_reader(user, name, name)
    assert first["datasets"] == [f"{name}@1"]
    assert report["files"] == expected and report["env"] == "/data"
    writes = report["writes"]
    assert "written" not in writes.values(), writes
    assert writes[f"/data/{name}/new.txt"] == writes["/data/other.txt"] == "Read-only file system", writes
    assert f"dataset {name}@1 (2 files" in log and "copied in" in log
    cached = holder_of(docker_client, name)

    second, report, log = run_reader(user, name, f"{name}@1")
    assert report["files"] == expected
    assert "from the cache" in log and "copied in" not in log
    assert holder_of(docker_client, name) == cached, "the volume was filled again"
    job_page = user.get(f"/jobs/{second['id']}").text
    assert f"{name}@1" in job_page


def test_concurrent_jobs_fill_a_version_once(user: ApiUser, python_consumer, docker_client) -> None:
    name = new_name("together")
    upload(user, name, {"big.bin": secrets.token_bytes(8 * 2**20)})
    code = make_zip({"code.py": READS_DATA.format(name=name)})
    ids = [user.submit(code, datasets=name).json()["id"] for _ in range(2)]
    logs = []
    for job_id in ids:
        assert user.wait(job_id)["status"] == "succeeded"
        logs.append(user.get(f"/api/v1/jobs/{job_id}/log").text)
    assert sorted("copied in" in log for log in logs) == [False, True], logs
    holder_of(docker_client, name)


def test_versions_are_pinned_with_name_at_version(user: ApiUser, python_consumer, docker_client) -> None:
    name = new_name("pin")
    upload(user, name, {"value.txt": b"one"})
    upload(user, name, {"value.txt": b"two"})
    pinned, report, _ = run_reader(user, name, f"{name}@1")
    assert pinned["datasets"] == [f"{name}@1"] and report["files"]["value.txt"] == hashlib.sha256(b"one").hexdigest()
    newest, report, _ = run_reader(user, name, name)
    assert newest["datasets"] == [f"{name}@2"] and report["files"]["value.txt"] == hashlib.sha256(b"two").hexdigest()


@pytest.mark.parametrize("choice", [f"{PREFIX}-nothing", "demo@0", "Bad Name", "{name}@9", "{name}&{name}"])
def test_unknown_datasets_are_refused_and_nothing_is_stored(user: ApiUser, choice: str) -> None:
    name = new_name("known")
    upload(user, name, {"a.csv": READINGS.encode()})
    before = user.get("/api/v1/jobs").json()["total"]
    choices = choice.format(name=name).split("&")
    response = user.post("/api/v1/jobs", files={"file": ("p.zip", make_zip({"code.py": "print(1)"}))}, data={"datasets": choices})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "unknown_dataset"
    assert user.get("/api/v1/jobs").json()["total"] == before


def readings_csv(store: ObjectStore, name: str, version: int) -> list[list[str]]:
    return list(csv.reader(io.StringIO(store.get_bytes(file_key(name, version, "readings.csv")).decode())))


def test_readings_are_appended_as_new_versions(user: ApiUser, store: ObjectStore) -> None:
    name = new_name("ingest")
    response = user.post(f"/api/v1/datasets/{name}/readings", files={"file": ("r.csv", READINGS)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["rejected"] == 0 and body["version"]["version"] == 1
    assert readings_csv(store, name, 1)[0] == ["equipment_id", "timestamp", "value"]

    upload(user, name, {"readings.csv": b"equipment_id,timestamp,value\nfan,2024-03-01T00:00:00Z,7", "notes.txt": b"calibrated"})
    records = [{"equipment_id": "pump-9", "timestamp": f"2024-03-02T00:0{i}:00+00:00", "value": i / 2} for i in range(3)]
    response = user.post(f"/api/v1/datasets/{name}/readings", json={"records": records})
    assert response.status_code == 201, response.text
    version = response.json()["version"]
    assert version["version"] == 3 and version["parent"] == 2
    files = {entry["path"]: entry for entry in version["files"]}
    assert files["readings.csv"]["rows"] == 4 and files["notes.txt"]["sha256"] == hashlib.sha256(b"calibrated").hexdigest()
    assert readings_csv(store, name, 3) == [
        ["equipment_id", "timestamp", "value"],
        ["fan", "2024-03-01T00:00:00Z", "7"],  # the previous file had no final newline
        ["pump-9", "2024-03-02T00:00:00+00:00", "0.0"],
        ["pump-9", "2024-03-02T00:01:00+00:00", "0.5"],
        ["pump-9", "2024-03-02T00:02:00+00:00", "1.0"],
    ]
    assert store.get_bytes(file_key(name, 3, "notes.txt")) == b"calibrated"
    assert len(readings_csv(store, name, 2)) == 2, "a version never changes"


BAD_READINGS = (
    "equipment_id,timestamp,value\n"
    "pump-1,2024-03-01T00:00:00Z,1.0\n"
    "pump-1,2024-03-01T00:01:00,1.1\n"
    "pump-1,2024-03-01T00:02:00Z,1.2\n"
    "pump-1,2024-03-01T00:03:00Z,NaN\n"
    "pump-1,2024-03-01T00:04:00Z,1.4\n"
)


def test_bad_rows_are_reported_by_line_and_nothing_is_stored(user: ApiUser) -> None:
    name = new_name("bad")
    upload(user, name, {"readings.csv": READINGS.encode()})
    response = user.post(f"/api/v1/datasets/{name}/readings", files={"file": ("r.csv", BAD_READINGS)})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_readings" and "nothing was stored" in body["message"]
    assert body["accepted"] == 3 and body["rejected"] == 2
    assert [error["line"] for error in body["errors"]] == [3, 5]
    assert "UTC offset" in body["errors"][0]["reason"] and "number" in body["errors"][1]["reason"]
    assert user.get(f"/api/v1/datasets/{name}").json()["latest_version"] == 1

    json_body = user.post(f"/api/v1/datasets/{name}/readings", json=[{"equipment_id": "p", "timestamp": "x", "value": 1}]).json()
    assert json_body["errors"] == [{"record": 1, "reason": "timestamp 'x' is not an ISO 8601 date and time"}]
    header = user.post(f"/api/v1/datasets/{name}/readings", files={"file": ("r.csv", "id,time,value\n")})
    assert header.status_code == 422 and header.json()["error"] == "bad_readings"
    assert user.get(f"/api/v1/datasets/{name}").json()["latest_version"] == 1


def test_skip_invalid_stores_the_good_rows_and_reports_the_rest(user: ApiUser, store: ObjectStore) -> None:
    name = new_name("skip")
    upload(user, name, {"readings.csv": READINGS.encode()})
    response = user.post(f"/api/v1/datasets/{name}/readings?skip_invalid=1", files={"file": ("r.csv", BAD_READINGS)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accepted"] == 3 and body["rejected"] == 2 and [error["line"] for error in body["errors"]] == [3, 5]
    assert body["version"]["version"] == 2 and "3 readings appended, 2 invalid skipped" == body["version"]["description"]
    rows = readings_csv(store, name, 2)
    assert [row[1] for row in rows[3:]] == ["2024-03-01T00:00:00Z", "2024-03-01T00:02:00Z", "2024-03-01T00:04:00Z"]
    all_bad = user.post(f"/api/v1/datasets/{name}/readings?skip_invalid=1", json=[{"equipment_id": "p", "timestamp": "x", "value": 1}])
    assert all_bad.status_code == 422 and "no valid readings" in all_bad.json()["message"]


def test_the_datasets_page_form_makes_a_version_in_a_browser_session(user: ApiUser) -> None:
    browser = requests.Session()
    login = browser.get(f"{user.base_url}/login", timeout=30).text
    response = browser.post(
        f"{user.base_url}/login",
        data={"name": user.name, "password": user.password, "csrf_token": page_csrf(login)},
        timeout=30,
    )
    assert response.status_code == 200 and "Log out" in response.text
    name = new_name("page")
    form = browser.get(f"{user.base_url}/datasets", timeout=30).text
    created = browser.post(
        f"{user.base_url}/datasets",
        data={"name": name, "description": "from the page", "csrf_token": page_csrf(form)},
        files=[("files", ("readings.csv", READINGS)), ("files", ("more.zip", make_zip({"b.txt": "b"}, top=None)))],
        timeout=60,
    )
    assert created.status_code == 200 and created.url.endswith(f"/datasets/{name}?version=1"), created.text[-2000:]
    assert "<td>pump-1</td>" in created.text and "b.txt" in created.text
    refused = browser.post(f"{user.base_url}/datasets", data={"name": "No Good", "csrf_token": page_csrf(form)},
                           files={"files": ("a.csv", READINGS)}, timeout=30)
    assert refused.status_code == 422 and "not a dataset name" in refused.text
    no_token = browser.post(f"{user.base_url}/datasets", data={"name": new_name("csrf")}, files={"files": ("a.csv", READINGS)}, timeout=30)
    assert no_token.status_code == 400


def page_csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def test_dataset_answers_fit_the_openapi_document(user: ApiUser) -> None:
    document = user.get("/api/v1/openapi.json").json()

    def fits(response: requests.Response, template: str, method: str) -> None:
        answers = document["paths"][template][method]["responses"]
        assert str(response.status_code) in answers, (template, response.status_code, response.text)
        schema = answers[str(response.status_code)]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": document["components"]}).validate(response.json())

    name = new_name("doc")
    fits(user.post("/api/v1/datasets", data={"name": name}, files={"file": ("readings.csv", READINGS)}), "/datasets", "post")
    fits(user.post("/api/v1/datasets", data={"name": "Bad"}, files={"file": ("a.csv", READINGS)}), "/datasets", "post")
    fits(user.get("/api/v1/datasets"), "/datasets", "get")
    fits(user.get(f"/api/v1/datasets/{name}"), "/datasets/{name}", "get")
    fits(user.get(f"/api/v1/datasets/{name}-none"), "/datasets/{name}", "get")
    readings = f"/api/v1/datasets/{name}/readings"
    fits(user.post(readings, files={"file": ("r.csv", BAD_READINGS)}), "/datasets/{name}/readings", "post")
    fits(user.post(readings + "?skip_invalid=1", files={"file": ("r.csv", BAD_READINGS)}), "/datasets/{name}/readings", "post")
    fits(user.post(readings, json={"records": [{"equipment_id": "p", "timestamp": "2024-03-01T00:00:00Z", "value": 1}]}),
         "/datasets/{name}/readings", "post")
    fits(user.post(readings, files={"file": ("r.csv", "a,b\n")}), "/datasets/{name}/readings", "post")
