"""The admin's view in a real browser (headless Chromium) with real data: researchers' jobs running, held, failed
and done, a consumer reporting; the admin reaches it from the nav, changes a user's limits, and a picture of the
overview goes to docs/screenshots/admin.png."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.admin_helpers import SLEEPER, age_job, named_user, set_limits, wait_for
from tests.browser.conftest import VIEWPORT, log_in, screenshot
from tests.conftest import ApiUser, make_zip
from tests.web import PLOTS_CODE


def run(user: ApiUser, project: str, code: str) -> dict:
    return user.submit(make_zip({"code.py": code}, top=project)).json()


def test_admin_overview_with_real_data(page: Page, test_env, live_server, python_consumer) -> None:
    ada, bo = named_user(test_env, live_server, "ada.lovelace"), named_user(test_env, live_server, "bo.peep")
    # A day of the lab's work: finished jobs spread over the past hours.
    for hours, (user, project, code) in enumerate(
        [(ada, "vibration-fft", PLOTS_CODE), (bo, "pump-7-spectra", "print('ok')"), (ada, "bearing-wear", "print('ok')"),
         (bo, "pump-7-spectra", "raise SystemExit('calibration file missing')"), (ada, "line-3-trend", PLOTS_CODE),
         (bo, "thermal-drift", "print('ok')")] * 2,
        start=1,
    ):
        job = user.wait(run(user, project, code)["id"])
        age_job(test_env, job["id"], days=(hours * 1.7) / 24)
    user_failure = bo.wait(run(bo, "pump-7-spectra", "import sys\nsys.exit(3)")["id"])
    assert user_failure["status"] == "failed"
    set_limits(test_env, ada.name, max_running="1")
    running = run(ada, "long-fft", SLEEPER.format(seconds=120))
    held = [run(ada, "long-fft", SLEEPER.format(seconds=120)) for _ in range(2)]
    ada.wait(running["id"], until={"running"})
    admin = named_user(test_env, live_server, "lab-admin", admin=True)

    log_in(page, admin)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    expect(page.locator('#runtimes tr[data-runtime="python"] [data-field="held"]')).to_have_text("2")
    expect(page.locator(f'#running tr[data-job-id="{running["id"]}"]')).to_contain_text(ada.name)
    expect(page.locator(f'#failures tr[data-job-id="{user_failure["id"]}"]')).to_contain_text("exited with code 3")
    expect(page.locator("#consumers")).to_contain_text("alive")
    busy = page.locator('#runtimes tr[data-runtime="python"] [data-field="busy"]')
    assert wait_for(lambda: page.reload() and busy.inner_text().startswith("1 of"), 30, "a heartbeat with the busy slot")
    expect(page.locator("svg.chart rect")).not_to_have_count(0)
    expect(page.locator(f'#usage tr[data-user="{ada.name}"]')).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 1300})  # the top of the overview: the whole page grows with the users
    screenshot(page, "admin")
    page.set_viewport_size(VIEWPORT)

    page.get_by_role("link", name="Users and limits").click()
    page.get_by_role("link", name=ada.name, exact=True).click()
    page.get_by_label("Most jobs running").fill("3")
    page.get_by_role("button", name="Save limits").click()
    expect(page.locator(".flash.success")).to_contain_text("limits are saved")
    released = wait_for(lambda: all(not ada.get(f"/api/v1/jobs/{j['id']}").json()["reason"].startswith("held") for j in held), 30, "release")
    assert released  # a slot is hers now: the relay hands the held jobs to the broker
    page.get_by_role("link", name="Overview").click()
    expect(page.locator('#runtimes tr[data-runtime="python"] [data-field="held"]')).to_have_text("0")
    expect(page.locator("#runtimes")).to_contain_text(re.compile(r"\d of \d"))
    for job in (running, *held):
        ada.post(f"/api/v1/jobs/{job['id']}/cancel")
        ada.wait(job["id"])
