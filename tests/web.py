"""Helpers for tests that use the web app as a browser does: a logged-in session with its CSRF token, and jobs
whose code draws the plots and tables the pages preview."""

from __future__ import annotations

import re
from dataclasses import dataclass

import requests

from tests.conftest import ApiUser

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')

# A job that draws a PNG and an SVG with matplotlib and writes a CSV, all under output/.
PLOTS_CODE = """
import csv
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

out = Path("output")
out.mkdir(exist_ok=True)
t = np.linspace(0, 1, 500)
signal = np.sin(2 * np.pi * 5 * t) + 0.3 * np.sin(2 * np.pi * 40 * t)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(t, signal)
ax.set_title("vibration sensor 7")
fig.savefig(out / "spectrum.png", dpi=80)
fig.savefig(out / "spectrum.svg")
with open(out / "readings.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["equipment_id", "timestamp", "value"])
    for i in range(50):
        writer.writerow(["pump-7", f"2026-01-01T00:00:{i:02d}Z", f"{signal[i]:.4f}"])
(out / "notes" ).mkdir(exist_ok=True)
(out / "notes" / "summary.txt").write_text("peak at 5 Hz\\n")
print("plotted", len(t), "samples")
"""


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


@dataclass
class BrowserSession:
    """A requests session logged in through the login form, as a browser without JavaScript would be."""

    base_url: str
    http: requests.Session
    csrf: str

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.base_url + path, timeout=120, **kwargs)

    def form_post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        """POST a page form with the CSRF token, as the form itself would."""
        return self.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


def post_login(http: requests.Session, user: ApiUser, query: str = "") -> requests.Response:
    """The login form filled in and sent, its answer unfollowed (``query`` e.g. ``?next=/datasets``)."""
    page = http.get(user.base_url + "/login", timeout=30)
    return http.post(
        user.base_url + "/login" + query,
        data={"csrf_token": csrf_token(page.text), "name": user.name, "password": user.password},
        timeout=30,
        allow_redirects=False,
    )


def log_in(user: ApiUser) -> BrowserSession:
    http = requests.Session()
    response = post_login(http, user)
    assert response.status_code == 302, response.text[:500]
    results = http.get(user.base_url + "/jobs", timeout=30)
    return BrowserSession(user.base_url, http, csrf_token(results.text))
