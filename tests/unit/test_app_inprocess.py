"""The web app in process (tests/unit/conftest.py), and jobs' names, notes, tags and id prefixes through its API."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from storage.models import Job, User
from webapp.accounts import create_user
from webapp.jobnotes import NotesError, clean_tags, parse_patch


def test_the_api_without_credentials_answers_401_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/jobs")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_a_wrong_token_is_refused(client: FlaskClient, token: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}x"})
    assert response.status_code == 401


def test_a_new_user_has_no_jobs(client: FlaskClient, token: str) -> None:
    response = client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert (response.get_json()["items"], response.get_json()["total"]) == ([], 0)


def test_an_unknown_job_is_a_404_json(client: FlaskClient, token: str) -> None:
    response = client.get("/api/v1/jobs/" + "0" * 32, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_the_openapi_schema_describes_the_jobs_api(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/jobs" in response.get_json()["paths"]


def test_the_login_page_renders(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert b"<form" in response.data


# ---- names, notes and tags; id prefixes ----


def add_job(app: Flask, job_id: str, owner: str = "ada", **fields) -> None:
    with app.extensions["labqueue"].db.session() as session:
        user = session.query(User).filter_by(name=owner).one()
        values = {"project": "análise-sinais", "runtime": "python", "time_limit": 60, "memory_limit": 256, "input_size": 1}
        session.add(Job(id=job_id, owner_id=user.id, input_sha256="0" * 64, input_key=f"jobs/{job_id}/input.zip", **{**values, **fields}))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_unique_prefix_finds_the_job_and_a_shared_one_is_409(app: Flask, client: FlaskClient, token: str) -> None:
    add_job(app, "83d90682" + "0" * 24, name="run a")
    add_job(app, "83d90682" + "1" * 24, name="run b")
    add_job(app, "abcdef12" + "0" * 24, name="run c")
    found = client.get("/api/v1/jobs/abcd", headers=auth(token))
    assert found.status_code == 200 and found.get_json()["name"] == "run c" and found.get_json()["short_id"] == "abcdef12"
    assert client.get("/api/v1/jobs/ABCDEF12", headers=auth(token)).status_code == 200
    ambiguous = client.get("/api/v1/jobs/83d90682", headers=auth(token))
    assert ambiguous.status_code == 409 and ambiguous.get_json()["error"] == "conflict" and "more of the id" in ambiguous.get_json()["message"]
    assert client.get("/api/v1/jobs/83d906820", headers=auth(token)).get_json()["name"] == "run a"
    assert client.get("/api/v1/jobs/ffff", headers=auth(token)).status_code == 404
    assert client.get("/api/v1/jobs/abc", headers=auth(token)).status_code == 404  # too short to be a prefix
    assert client.get("/api/v1/jobs/ab%25", headers=auth(token)).status_code == 404  # no wildcards


def test_another_users_job_is_not_found_by_prefix(app: Flask, client: FlaskClient, token: str) -> None:
    with app.extensions["labqueue"].db.session() as session:
        create_user(session, "bob", "another long password")
    add_job(app, "abcdef12" + "0" * 24, owner="bob")
    add_job(app, "abcdef12" + "1" * 24)
    assert client.get("/api/v1/jobs/abcdef12", headers=auth(token)).get_json()["id"] == "abcdef12" + "1" * 24


def test_patch_sets_name_notes_and_tags_as_written(app: Flask, client: FlaskClient, token: str) -> None:
    add_job(app, "abcdef12" + "0" * 24, name="análise-sinais")
    edited = client.patch("/api/v1/jobs/abcdef12", headers=auth(token), json={"notes": "filtro 50 Hz\nsegunda tentativa", "tags": ["línea 7", "baseline", "baseline"]})
    assert edited.status_code == 200
    job = edited.get_json()
    assert (job["name"], job["notes"], job["tags"]) == ("análise-sinais", "filtro 50 Hz\nsegunda tentativa", ["línea 7", "baseline"])
    renamed = client.patch("/api/v1/jobs/abcdef12", headers=auth(token), json={"name": "  "}).get_json()
    assert renamed["name"] == "análise-sinais" and renamed["tags"] == ["línea 7", "baseline"]  # empty: the project's again
    listed = client.get("/api/v1/jobs?tag=línea 7", headers=auth(token)).get_json()
    assert [item["id"][:8] for item in listed["items"]] == ["abcdef12"]
    assert client.get("/api/v1/jobs?tag=línea", headers=auth(token)).get_json()["total"] == 0
    assert client.get("/api/v1/jobs?name=SINAIS", headers=auth(token)).get_json()["total"] == 1
    assert client.get("/api/v1/jobs?name=outra", headers=auth(token)).get_json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [({"status": "succeeded"}, 422), ({"tags": "a,b"}, 200), ({"tags": [1]}, 422), ({"name": "x" * 201}, 422), ({"notes": "\x00"}, 422)],
)
def test_patch_refuses_what_it_cannot_set(app: Flask, client: FlaskClient, token: str, body: dict, status: int) -> None:
    add_job(app, "abcdef12" + "0" * 24)
    response = client.patch("/api/v1/jobs/abcdef12", headers=auth(token), json=body)
    assert response.status_code == status, response.get_json()
    if status != 200:
        assert response.get_json()["error"] == "bad_notes"


def test_patch_without_json_is_400(app: Flask, client: FlaskClient, token: str) -> None:
    add_job(app, "abcdef12" + "0" * 24)
    response = client.patch("/api/v1/jobs/abcdef12", headers=auth(token), data="name=x")
    assert response.status_code == 400 and response.get_json()["error"] == "bad_request"


def test_tags_from_a_form_are_split_on_commas_and_checked() -> None:
    assert clean_tags(" a, b ,,a ") == ["a", "b"]
    with pytest.raises(NotesError, match="at most 20 tags"):
        clean_tags([f"t{i}" for i in range(21)])
    with pytest.raises(NotesError, match="commas"):
        parse_patch({"tags": ["a,b"]})
