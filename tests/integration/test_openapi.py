"""The OpenAPI document at /api/v1/openapi.json matches the code: the same routes and methods as the app's URL map,
a valid OpenAPI 3.1 document, and real responses of the running stack fit its schemas and listed statuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from producer.config import BrokerConfig
from storage.config import StorageConfig
from tests.conftest import ApiUser, make_user, make_zip
from webapp import create_app
from webapp.config import WebConfig

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def document(live_server: str) -> dict[str, Any]:
    response = requests.get(f"{live_server}{PREFIX}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def routes(test_env: dict[str, str]) -> set[tuple[str, str]]:
    """(path template, method) of every /api/v1 rule of the app, in OpenAPI's spelling."""
    app = create_app(
        {
            "WEB_CONFIG": WebConfig.from_env(test_env),
            "STORAGE_CONFIG": StorageConfig.from_env(test_env),
            "BROKER_CONFIG": BrokerConfig.from_env(test_env),
        }
    )
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
            found |= {(path, method) for method in rule.methods - IGNORED_METHODS}
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item if method in methods}


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1") and document["servers"] == [{"url": PREFIX}]


def test_every_documented_operation_exists(document: dict[str, Any], routes: set[tuple[str, str]]) -> None:
    assert documented(document) - routes == set(), "webapp/api/openapi.py describes routes the app does not have"


def test_every_route_is_documented(document: dict[str, Any], routes: set[tuple[str, str]]) -> None:
    assert routes - documented(document) == set(), "describe these routes in the OpenAPI document (webapp/api/openapi.py)"


class Checker:
    """Holds real responses to the document: the status must be listed for the operation, a JSON body must fit."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, response: requests.Response, template: str, method: str = "get") -> Any:
        operation = self.document["paths"][template][method]
        assert str(response.status_code) in operation["responses"], (template, method, response.status_code, response.text)
        content = operation["responses"][str(response.status_code)].get("content", {})
        if "application/json" in content:
            schema = {**content["application/json"]["schema"], "components": self.document["components"]}
            Draft202012Validator(schema).validate(response.json())
        else:
            media = response.headers["Content-Type"].split(";")[0]
            assert not content or media in content or "*/*" in content, media
        self.checked.add((template, method, response.status_code))
        return response.json() if "application/json" in content else response


@pytest.fixture(scope="module")
def checker(document: dict[str, Any]) -> Checker:
    return Checker(document)


def test_job_responses_fit_the_schemas(checker: Checker, test_env, live_server, python_consumer) -> None:
    user: ApiUser = make_user(test_env, live_server)
    code = "from pathlib import Path\nPath('output').mkdir(exist_ok=True)\nPath('output/a.txt').write_text('x')\nprint('ok')\n"

    job = checker(user.submit(make_zip({"code.py": code})), "/jobs", "post")
    checker(user.submit(make_zip({"main.py": "print(1)"})), "/jobs", "post")  # 422: no entry file
    checker(user.get(f"/api/v1/jobs/{job['id']}/files"), "/jobs/{job_id}/files")  # 409 until it ends
    finished = user.wait(job["id"])
    checker(user.get(f"/api/v1/jobs/{job['id']}"), "/jobs/{job_id}")
    checker(user.get("/api/v1/jobs?per_page=5"), "/jobs")
    checker(user.get("/api/v1/jobs?status=nonsense"), "/jobs")
    checker(user.get(f"/api/v1/jobs/{job['id']}/files"), "/jobs/{job_id}/files")
    checker(user.get(f"/api/v1/jobs/{job['id']}/files/a.txt"), "/jobs/{job_id}/files/{name}")
    edit = f"{user.base_url}/api/v1/jobs/{job['id'][:8]}"
    checker(requests.patch(edit, headers=user.headers, json={"tags": ["x"], "notes": "n"}, timeout=30), "/jobs/{job_id}", "patch")
    checker(requests.patch(edit, headers=user.headers, json={"state": "x"}, timeout=30), "/jobs/{job_id}", "patch")  # 422
    checker(user.get(f"/api/v1/jobs/{job['id']}/log"), "/jobs/{job_id}/log")
    checker(user.get(f"/api/v1/jobs/{job['id']}/output"), "/jobs/{job_id}/output")
    checker(user.post(f"/api/v1/jobs/{job['id']}/cancel"), "/jobs/{job_id}/cancel", "post")  # 409: it ended
    again = checker(user.post(f"/api/v1/jobs/{job['id']}/resubmit"), "/jobs/{job_id}/resubmit", "post")
    checker(user.post(f"/api/v1/jobs/{again['id']}/cancel"), "/jobs/{job_id}/cancel", "post")
    checker(user.get("/api/v1/jobs/0123456789abcdef0123456789abcdef"), "/jobs/{job_id}")
    checker(requests.get(f"{live_server}/api/v1/jobs", timeout=10), "/jobs")
    checker(requests.get(f"{live_server}/api/v1/health", timeout=10), "/health")
    checker(requests.get(f"{live_server}/api/v1/openapi.json", timeout=10), "/openapi.json")

    assert finished["status"] == "succeeded"
    statuses = {status for _, _, status in checker.checked}
    assert {200, 201, 202, 400, 401, 404, 409, 422} <= statuses
