"""Why a job failed, on the real stack: the job's JSON and its page open on the exception and a hint."""

from __future__ import annotations

from tests.conftest import ApiUser, make_zip
from tests.web import log_in


def test_a_missing_module_points_to_requirements(user: ApiUser, python_consumer) -> None:
    code = "print('starting')\nimport sklearn_not_here\n"
    job = user.wait(user.submit(make_zip({"code.py": code}, top="análise-sinais")).json()["id"])
    assert job["status"] == "failed"
    failure = user.get(f"/api/v1/jobs/{job['id']}").json()["failure"]
    assert failure["exception"].endswith("ModuleNotFoundError: No module named 'sklearn_not_here'")
    assert "requirements.txt" in failure["hint"]
    page = log_in(user).get(f"/jobs/{job['id']}").text
    summary = page.index('id="failure"')
    assert summary < page.index('id="outputs"') < page.index('id="log"')
    assert '<mark class="exception" id="failure-exception">' in page and "add a line sklearn_not_here" in page
    assert 'id="read-log"' in page and 'class="button secondary" id="download-output"' in page


def test_an_octave_error_is_highlighted(user: ApiUser, matlab_consumer) -> None:
    job = user.wait(user.submit(make_zip({"code.m": "disp('hello')\nx = undefined_thing_here(3);\n"})).json()["id"])
    assert job["status"] == "failed"
    failure = user.get(f"/api/v1/jobs/{job['id']}").json()["failure"]
    assert failure["exception"].startswith("error: 'undefined_thing_here' undefined"), failure
    assert "pkg load" in failure["hint"]


def test_a_succeeded_job_has_no_failure(user: ApiUser, python_consumer) -> None:
    job = user.wait(user.submit(make_zip({"code.py": "print('fine')\n"})).json()["id"])
    assert job["status"] == "succeeded"
    assert user.get(f"/api/v1/jobs/{job['id']}").json()["failure"] is None
