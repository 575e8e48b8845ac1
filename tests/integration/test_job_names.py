"""Names, notes and tags on the real stack: given at upload (or the project's, as written), changed later, shown
escaped on the pages, searched in the results list; a job's page and API answer to a unique id prefix."""

from __future__ import annotations

import requests

from tests.conftest import ApiUser, make_zip
from tests.web import log_in


def test_a_job_is_named_tagged_noted_and_found(user: ApiUser, python_consumer) -> None:
    plain = user.submit(make_zip({"code.py": "print(1)\n"}, top="análise-sinais")).json()
    assert (plain["project"], plain["name"], plain["tags"]) == ("análise-sinais", "análise-sinais", [])
    named = user.submit(make_zip({"code.py": "print(2)\n"}, top="análise-sinais"), name="<b>filtro</b> 50 Hz", tags="baseline, línea 7").json()
    assert (named["name"], named["tags"]) == ("<b>filtro</b> 50 Hz", ["baseline", "línea 7"])
    user.wait(named["id"])

    response = requests.patch(  # by a prefix of the id
        f"{user.base_url}/api/v1/jobs/{named['id'][:8]}", headers=user.headers, json={"notes": "segunda tentativa", "tags": ["final"]}, timeout=30
    )
    assert response.status_code == 200 and response.json()["tags"] == ["final"]
    assert user.get(f"/api/v1/jobs/{named['id'][:6]}").json()["notes"] == "segunda tentativa"

    browser = log_in(user)
    page = browser.get(f"/jobs/{named['id'][:8]}").text
    assert "&lt;b&gt;filtro&lt;/b&gt; 50 Hz" in page and "<b>filtro</b>" not in page
    assert "segunda tentativa" in page and 'href="/jobs?tag=final"' in page
    listing = browser.get("/jobs?tag=final").text
    assert named["id"][:8] in listing and plain["id"][:8] not in listing
    by_name = browser.get("/jobs?name=análise").text
    assert plain["id"][:8] in by_name and named["id"][:8] not in by_name

    saved = browser.form_post(f"/jobs/{plain['id']}/notes", {"name": "primeira", "tags": "a, b", "notes": "ok"})
    assert saved.status_code == 200 and "Saved the name, notes and tags." in saved.text
    stored = user.get(f"/api/v1/jobs/{plain['id']}").json()
    assert (stored["name"], stored["tags"], stored["notes"]) == ("primeira", ["a", "b"], "ok")


def test_resubmit_keeps_the_name_and_tags(user: ApiUser, python_consumer) -> None:
    job = user.submit(make_zip({"code.py": "print(3)\n"}), name="run 1", tags="sweep").json()
    user.wait(job["id"])
    again = user.post(f"/api/v1/jobs/{job['id'][:10]}/resubmit").json()
    assert (again["name"], again["tags"], again["notes"]) == ("run 1", ["sweep"], "")
