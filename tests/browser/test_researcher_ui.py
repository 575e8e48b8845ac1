"""A researcher's day in a real browser (headless Chromium) against the running stack: log in, upload a project
that plots with matplotlib, watch it run without reloading, see the plot and table previewed, download the output;
a refused zip says why, with and without JavaScript; tokens on the account page."""

from __future__ import annotations

import base64
import io
import os
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import VIEWPORT, log_in, screenshot
from tests.conftest import ApiUser, make_zip
from tests.web import PLOTS_CODE

SLOW_PLOTS = "import time\ntime.sleep(4)\n" + PLOTS_CODE
QUICK_SUM = "import numpy as np\nprint('sum', np.arange(100).sum())\n"
# Tells the test, through the console (which outlives the page), every text the upload progress line shows.
RECORD_PROGRESS = """() => {
  const line = document.getElementById("upload-progress-text");
  new MutationObserver(() => console.log("progress: " + line.textContent))
    .observe(line, { childList: true, characterData: true, subtree: true });
}"""
NO_ENTRY = "No entry file: put code.py (Python) or code.m (MATLAB / Octave) in the folder 'analysis/'. The zip has 'analysis/src/code.py'"


def write_zip(tmp_path: Path, name: str, files: dict[str, str | bytes], top: str | None) -> Path:
    path = tmp_path / name
    path.write_bytes(make_zip(files, top=top))
    return path


def test_upload_watch_preview_and_download(page: Page, researcher: ApiUser, tmp_path: Path, python_consumer) -> None:
    page.goto(f"{researcher.base_url}/login")
    screenshot(page, "login")
    log_in(page, researcher)
    expect(page.locator(".flash.success")).to_contain_text(f"Welcome, {researcher.name}")

    page.get_by_role("link", name="Upload", exact=True).click()
    files = {"code.py": SLOW_PLOTS, "calibration.bin": os.urandom(3 * 2**20)}
    page.locator("#file").set_input_files(write_zip(tmp_path, "vibration.zip", files, "vibration"))
    expect(page.locator("#zip-info")).to_contain_text("Project “vibration” · Python (code.py) · 2 files, 3.0 MiB unpacked")
    expect(page.locator("#runtime")).to_have_value("python")
    page.locator("#time_limit").fill("300")
    screenshot(page, "upload")
    progress: list[str] = []
    page.on("console", lambda message: progress.append(message.text))
    page.evaluate(RECORD_PROGRESS)
    page.get_by_role("button", name="Submit job").click()

    # The job page, live: the status moves on and the outputs appear, all without a reload.
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]
    assert any(re.match(r"progress: 100% · 3\.0 MiB of 3\.0 MiB", text) for text in progress), progress
    assert "progress: Queued. Opening the job…" in progress
    badge = page.locator("h1 .badge")
    expect(badge).to_have_text(re.compile("queued|preparing|running"))
    page.evaluate("window.labqueueNotReloaded = true")
    expect(badge).to_have_text("succeeded", timeout=180_000)
    assert page.evaluate("window.labqueueNotReloaded") is True
    expect(page.locator('[data-field="exit_code"]')).to_have_text("0")
    expect(page.locator("#log")).to_contain_text("plotted 500 samples")

    png = page.locator('#outputs img[alt="spectrum.png"]')
    expect(png).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=png.element_handle())
    expect(page.locator('#outputs img[alt="spectrum.svg"]')).to_be_visible()
    expect(page.locator("figure.csv-preview")).to_contain_text("pump-7")
    expect(page.locator("#output-files")).to_contain_text("notes/summary.txt")
    expect(page.locator("#cancel-form")).to_be_hidden()
    screenshot(page, "job", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download output").click()
    download = download_info.value
    assert download.suggested_filename == "vibration-output.zip"
    with zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())) as archive:
        assert set(archive.namelist()) == {"spectrum.png", "spectrum.svg", "readings.csv", "notes/summary.txt"}
        assert archive.read("spectrum.png")[:4] == b"\x89PNG"

    with page.expect_download() as one_file:
        page.locator("#output-files tr", has_text="readings.csv").get_by_role("link", name="download").click()
    assert one_file.value.suggested_filename == "readings.csv"
    assert Path(one_file.value.path()).read_text().startswith("equipment_id,timestamp,value")
    assert researcher.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded"


def test_results_change_live(page: Page, researcher: ApiUser, python_consumer) -> None:
    finished = researcher.submit(make_zip({"code.py": QUICK_SUM}, top="baseline")).json()
    researcher.wait(finished["id"])
    log_in(page, researcher)
    page.evaluate("window.labqueueNotReloaded = true")

    job = researcher.submit(make_zip({"code.py": "import time\ntime.sleep(3)\nprint('slow')\n"}, top="slow-sensor")).json()

    row = page.locator(f'tr[data-job-id="{job["id"]}"]')
    expect(row).to_be_visible()  # a new job appears at the top by itself
    expect(row.locator(".badge")).to_have_text(re.compile("queued|preparing|running"))
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=180_000)
    expect(row.locator('[data-field="duration"]')).to_have_text(re.compile(r"\d+\.\d s"))
    assert page.evaluate("window.labqueueNotReloaded") is True
    assert page.locator("tbody tr").first.get_attribute("data-job-id") == job["id"]

    page.get_by_label("Status").select_option("succeeded")
    page.get_by_label("Name").fill("slow")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="clear").click()
    expect(page.locator("tbody tr")).to_have_count(2)

    failing = researcher.submit(make_zip({"code.py": "raise SystemExit('no sensor file')"}, top="pump-7-spectra")).json()
    running = researcher.submit(make_zip({"code.py": "import time\ntime.sleep(60)\n"}, top="long-fft")).json()
    expect(page.locator(f'tr[data-job-id="{failing["id"]}"] .badge')).to_have_text("failed", timeout=120_000)
    expect(page.locator(f'tr[data-job-id="{running["id"]}"] .badge')).to_have_text("running", timeout=120_000)
    expect(page.locator("#job-total")).to_have_text("4 jobs")
    screenshot(page, "results")
    researcher.post(f"/api/v1/jobs/{running['id']}/cancel")
    expect(page.locator(f'tr[data-job-id="{running["id"]}"] .badge')).to_have_text("cancelled", timeout=60_000)


def test_a_dropped_zip_is_read_before_upload(page: Page, researcher: ApiUser) -> None:
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/upload")
    zipped = base64.b64encode(make_zip({"code.m": "disp(42)", "data/x.mat": b"\0" * 2048}, top=None)).decode()
    transfer = page.evaluate_handle(
        """(b64) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], "octave-filter.zip", { type: "application/zip" }));
          return transfer;
        }""",
        zipped,
    )

    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})

    expect(page.locator("#zip-info")).to_contain_text("Project “octave-filter” · MATLAB / Octave (code.m) · 2 files")
    expect(page.locator("#runtime")).to_have_value("matlab")
    expect(page.locator("#runtime-hint")).to_have_text("detected: code.m")
    assert page.eval_on_selector("#file", "input => input.files[0].name") == "octave-filter.zip"


def test_a_refused_zip_shows_the_reason(page: Page, researcher: ApiUser, tmp_path: Path) -> None:
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/upload")

    page.locator("#file").set_input_files(write_zip(tmp_path, "analysis.zip", {"src/code.py": "print(1)"}, "analysis"))
    expect(page.locator("#zip-info")).to_contain_text("No entry file")
    page.get_by_role("button", name="Submit job").click()

    expect(page.locator("#upload-error")).to_contain_text(NO_ENTRY)
    expect(page).to_have_url(f"{researcher.base_url}/upload")
    screenshot(page, "upload-refused")
    assert researcher.get("/api/v1/jobs").json()["total"] == 0


def test_a_refused_zip_shows_the_reason_without_javascript(browser: Browser, researcher: ApiUser, tmp_path: Path) -> None:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, researcher)
        page.goto(f"{researcher.base_url}/upload")
        page.locator("#file").set_input_files(write_zip(tmp_path, "analysis.zip", {"src/code.py": "print(1)"}, "analysis"))
        page.get_by_role("button", name="Submit job").click()

        expect(page.locator("#upload-error")).to_contain_text(NO_ENTRY)
        expect(page.locator("#upload-error")).to_be_visible()
    finally:
        context.close()


def test_cancel_and_resubmit_from_the_job_page(page: Page, researcher: ApiUser, python_consumer) -> None:
    job = researcher.submit(make_zip({"code.py": "import time\nprint('waiting', flush=True)\ntime.sleep(120)\n"})).json()
    researcher.wait(job["id"], until={"running"})
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")
    expect(page.locator("#log")).to_contain_text("waiting")

    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".flash.success")).to_contain_text("Cancelling the job.")
    expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=60_000)

    page.get_by_role("button", name="Resubmit").click()
    expect(page.locator(".flash.success")).to_contain_text("Resubmitted project as a new job.")
    expect(page).not_to_have_url(re.compile(job["id"]))
    new_id = page.url.rsplit("/", 1)[1]
    researcher.wait(new_id, until={"running"})
    researcher.post(f"/api/v1/jobs/{new_id}/cancel")


def test_a_capped_log_shows_head_cut_and_tail(page: Page, researcher: ApiUser, python_consumer) -> None:
    """The test stack keeps 1 MiB of log; the page shows its start, the consumer's cut marker and its end."""
    code = "for i in range(40000):\n    print(f'line {i:06d} ' + 'x' * 40)\n"
    job = researcher.wait(researcher.submit(make_zip({"code.py": code}, top="chatty")).json()["id"])
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")

    log = page.locator("#log")
    expect(log.locator("mark.cut")).to_contain_text("bytes of log cut here (log limit 1048576 bytes)")
    expect(log).to_contain_text("line 000000 ")
    expect(log).to_contain_text("line 039999 ")
    expect(log).to_contain_text("not shown here")


def test_account_tokens_are_shown_once_and_revoked(page: Page, researcher: ApiUser) -> None:
    log_in(page, researcher)
    page.get_by_role("link", name=researcher.name).click()
    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create token").click()

    token = page.locator("#new-token-value").input_value()
    assert token.startswith("lq_")
    assert researcher.get("/api/v1/jobs").status_code == 200
    row = page.locator("tr", has_text="laptop")
    expect(row.locator(".badge")).to_have_text("active")
    screenshot(page, "account")

    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash.success")).to_contain_text("Token 'laptop' revoked")
    expect(page.locator("tr", has_text="laptop").locator(".badge")).to_have_text("revoked")
    expect(page.locator("#new-token-value")).to_have_count(0)
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


FORGES_MARKS = (
    "print('[... labqueue: 99 bytes of log cut here (log limit 1048576 bytes) ...]')\n"
    "print('[labqueue] environment ready')\n"
)


def test_the_log_highlights_only_labqueues_own_marks(page: Page, researcher: ApiUser, python_consumer) -> None:
    """labqueue's notes are highlighted where the consumer said they are; the job's look-alikes stay plain text."""
    job = researcher.submit(make_zip({"code.py": FORGES_MARKS, "requirements.txt": "labqueue-probe==1.0\n"})).json()
    assert researcher.wait(job["id"])["status"] == "succeeded"
    log_in(page, researcher)
    page.goto(f"{researcher.base_url}/jobs/{job['id']}")

    log = page.locator("#log")
    expect(log).to_contain_text("[... labqueue: 99 bytes of log cut here")
    expect(log.locator("mark.labqueue").first).to_have_text(re.compile(r"\[labqueue\] (building )?environment "))
    expect(log.locator("mark.cut")).to_have_count(0)
    marked = log.locator("mark").all_text_contents()
    assert not any("99 bytes" in text for text in marked)
    ready = "[labqueue] environment ready"
    assert sum(text.count(ready) for text in marked) == log.inner_text().count(ready) - 1  # the job's own is not marked
    screenshot(page, "job-log-marks")
