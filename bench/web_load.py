"""Web: the results page and GET /api/v1/jobs with 10,000 jobs in the database, under load from wrk.

Usage: .venv/bin/python -m bench.web_load [JOBS] [SECONDS]   (default 10000 30; needs `make up`'s services and wrk)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from datetime import timedelta

import requests
from sqlalchemy import select

from bench.common import RESULTS
from bench.stack import Stack, private_stack
from storage.config import database_url
from storage.db import Database
from storage.models import Job, User, new_id, utcnow

# wrk reports 50/75/90/99 %; the p95 comes from its Lua hook.
P95_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("p95_us=%d\\n", latency:percentile(95)))
end
"""


def seed(env: dict[str, str], count: int) -> None:
    db = Database(database_url(env))
    now = utcnow()
    with db.session() as session:
        owner = session.scalar(select(User).where(User.name == "bench"))
        session.add_all(
            Job(
                id=new_id(), owner_id=owner.id, project=f"sweep-{i}", runtime="python", status="succeeded",
                time_limit=60, memory_limit=512, input_size=1000, input_sha256="0" * 64, input_key=f"jobs/x{i}/input.zip",
                submitted_at=now - timedelta(minutes=i), started_at=now - timedelta(minutes=i), finished_at=now - timedelta(minutes=i),
                exit_code=0, reason="exited with code 0", wall_seconds=1.0, attempt=1,
            )
            for i in range(count)
        )


def wrk(url: str, headers: dict[str, str], seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(P95_SCRIPT)
        script.flush()
        args = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", script.name]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p95 = int(re.search(r"p95_us=(\d+)", out).group(1)) / 1000
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert non2xx is None, out
    return {"rps": rps, "p95_ms": p95}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with private_stack(slots=1, web_workers=4) as stack:
        seed(stack.env, count)
        url, token = stack.client.url, stack.client.token
        login = requests.Session()
        page = login.get(url + "/login", timeout=30).text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        results = {
            "api": wrk(url + "/api/v1/jobs", {"Authorization": f"Bearer {token}"}, seconds),
        }
        cookie = _session_cookie(url, stack, login, csrf)
        results["page"] = wrk(url + "/jobs", {"Cookie": cookie}, seconds)
    print(f"{count} jobs in the database, wrk 2 threads x 8 connections, {seconds} s each")
    print(f"{'endpoint':<22}{'req/s':>8}{'p95 ms':>9}")
    for name, label in (("api", "GET /api/v1/jobs"), ("page", "results page /jobs")):
        print(f"{label:<22}{results[name]['rps']:>8.0f}{results[name]['p95_ms']:>9.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "web_load.json").write_text(json.dumps({"jobs": count, **results}))


def _session_cookie(url: str, stack: Stack, session: requests.Session, csrf: str) -> str:
    response = session.post(url + "/login", data={"name": "bench", "password": stack.password, "csrf_token": csrf}, timeout=30)
    response.raise_for_status()
    assert "session" in session.cookies, "login failed"
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


if __name__ == "__main__":
    main()
