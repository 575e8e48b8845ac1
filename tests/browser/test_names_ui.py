"""Names, notes and tags in a real browser: given in the upload form, shown in the results list with the short id,
reason and datasets, edited on the job page, a tag's link filtering the list; at a desktop's and a phone's size."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.conftest import ApiUser, make_zip

SIZES = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}


def test_name_and_tags_from_the_form_and_notes_on_the_job_page(page: Page, researcher: ApiUser, tmp_path: Path, python_consumer) -> None:
    zip_path = tmp_path / "análise-sinais.zip"
    zip_path.write_bytes(make_zip({"code.py": "print('filtrado')\n"}, top="análise-sinais"))
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/upload")
    page.locator("#file").set_input_files(str(zip_path))
    page.get_by_label("Name").fill("filtro <50 Hz>")
    page.get_by_label("Tags").fill("baseline, línea 7")
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("filtro <50 Hz>")
    expect(page.locator("#job-tags")).to_contain_text("línea 7")

    page.locator("#notes summary").click()
    page.locator("#notes-form").get_by_label("Notes").fill("segunda tentativa,\nsem o filtro antigo")
    page.locator("#notes-form").get_by_label("Tags").fill("final")
    page.locator("#notes-form").get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text("Saved the name, notes and tags.")
    expect(page.locator("#notes-text")).to_have_text("segunda tentativa,\nsem o filtro antigo")
    page.locator("#job-tags").get_by_role("link", name="final").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator('tbody [data-field="name"]')).to_have_text("filtro <50 Hz>")


@pytest.mark.parametrize("size", SIZES)
def test_the_results_list_shows_name_id_reason_and_datasets(browser: Browser, researcher: ApiUser, python_consumer, size: str) -> None:
    jobs = [
        researcher.submit(make_zip({"code.py": "print(1)\n"}, top="análise-sinais"), tags="baseline").json(),
        researcher.submit(make_zip({"code.py": "raise SystemExit('no sensor file')\n"}, top="análise-sinais"), name="análise-sinais, filtro 50 Hz", tags="filtro").json(),
    ]
    for job in jobs:
        researcher.wait(job["id"])
    context = browser.new_context(viewport=SIZES[size], locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    log_in(page, researcher)
    for job in jobs:
        row = page.locator(f'tr[data-job-id="{job["id"]}"]')
        expect(row.locator('[data-field="short_id"]')).to_have_text(job["id"][:8])
        expect(row.locator('[data-field="name"]')).to_have_text(job["name"])
    expect(page.locator(f'tr[data-job-id="{jobs[1]["id"]}"] [data-field="reason"]')).to_have_text("exited with code 1")
    table = page.locator(".table-scroll").bounding_box()
    assert table is not None and table["x"] + table["width"] <= SIZES[size]["width"]  # a wide table scrolls in its box
    screenshot(page, f"results-names-{size}")
    context.close()
