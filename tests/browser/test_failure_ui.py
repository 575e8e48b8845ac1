"""A job that ended badly opens on why, at a desktop's and a phone's size: the state in words, the hint, the end of
the log with the exception highlighted, above the fold; a page open while the job fails turns to that summary."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.conftest import ApiUser, make_zip

SIZES = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
PYTHON_FAILS = """\
import pandas as pd

print("loading the readings")
readings = pd.read_csv("/data/demo-sensors/readings.csv")
"""
OCTAVE_FAILS = "disp('filtering');\n[b, a] = butter(4, 0.2);\n"


def open_on(browser: Browser, user: ApiUser, size: str) -> Page:
    context = browser.new_context(viewport=SIZES[size], locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    log_in(page, user)
    return page


def above_the_fold(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["y"] < viewport["height"], f"{selector} starts below the fold at {box['y']}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 0.5, f"{selector} runs off the side: {box}"


@pytest.mark.parametrize("size", SIZES)
def test_a_python_traceback_opens_the_page(browser: Browser, researcher: ApiUser, python_consumer, size: str) -> None:
    job = researcher.submit(make_zip({"code.py": PYTHON_FAILS}, top="análise-sinais")).json()
    assert researcher.wait(job["id"])["status"] == "failed"
    page = open_on(browser, researcher, size)
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")
    expect(page.locator("#failure-summary")).to_have_text("Failed: exited with code 1")
    expect(page.locator("#failure-exception")).to_contain_text("FileNotFoundError: [Errno 2] No such file or directory")
    expect(page.locator("#failure-hint")).to_contain_text("--dataset demo-sensors" if _demo_exists(researcher) else "/data/demo-sensors/")
    expect(page.get_by_role("link", name="Read the log")).to_be_visible()
    above_the_fold(page, "#failure-summary")
    above_the_fold(page, "#failure-hint")
    exception = page.locator("#failure-exception").bounding_box()
    excerpt = page.locator("#failure-excerpt").bounding_box()
    assert exception and excerpt and exception["y"] + exception["height"] <= excerpt["y"] + excerpt["height"] + 1  # scrolled into view
    screenshot(page, f"failure-python-{size}")
    page.get_by_role("link", name="Read the log").click()
    expect(page.locator("#log")).to_contain_text("loading the readings")
    page.context.close()


def test_an_octave_error_opens_the_page(browser: Browser, researcher: ApiUser, matlab_consumer) -> None:
    job = researcher.submit(make_zip({"code.m": OCTAVE_FAILS})).json()
    assert researcher.wait(job["id"])["status"] == "failed"
    page = open_on(browser, researcher, "desktop")
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")
    expect(page.locator("#failure-exception")).to_contain_text("error: 'butter' undefined")
    expect(page.locator("#failure-hint")).to_contain_text("pkg load signal")
    above_the_fold(page, "#failure-exception")
    screenshot(page, "failure-octave-desktop")
    page.context.close()


def test_a_page_open_while_the_job_fails_turns_to_the_summary(page: Page, researcher: ApiUser, python_consumer) -> None:
    job = researcher.submit(make_zip({"code.py": "import time\ntime.sleep(3)\nraise SystemExit('calibration table missing')\n"})).json()
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")
    expect(page.locator("#failure")).to_have_count(0)
    expect(page.locator("#failure-summary")).to_have_text("Failed: exited with code 1", timeout=120_000)
    expect(page.locator("#failure-excerpt")).to_contain_text("calibration table missing")


def _demo_exists(user: ApiUser) -> bool:
    return user.get("/api/v1/datasets/demo-sensors").status_code == 200
