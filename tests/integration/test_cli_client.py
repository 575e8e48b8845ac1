"""The ``labqueue`` client commands against the running stack, run as on a researcher's laptop: nothing but a URL
and a token in the environment (no database, object store or broker settings), and nothing importable but the
client package, the standard library and requests with what requests needs."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pty
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, ApiUser, make_user, make_zip

# -S: no site-packages (the venv's server dependencies stay out of reach); -P: not the working directory either.
LABQUEUE = [sys.executable, "-S", "-P", "-m", "client"]

WRITES_CSV = """
from pathlib import Path
Path("output/tables").mkdir(parents=True, exist_ok=True)
Path("output/tables/result.csv").write_text("sensor,mean\\npump-7,0.42\\n")
print("wrote the table")
"""
TICKS = "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n    time.sleep(1)\n"
SLEEPS = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"


@pytest.fixture(scope="module")
def client_user(test_env, live_server, python_consumer) -> ApiUser:
    return make_user(test_env, live_server)


def requirements(distribution: str) -> set[str]:
    """``distribution`` and what it needs to run (extras left out), by distribution name."""
    needed, todo = set(), [distribution]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += [re.split(r"[ <>=!~;\[]", spec)[0] for spec in importlib.metadata.requires(name) or [] if "extra ==" not in spec]
    return needed


@pytest.fixture(scope="module")
def laptop(tmp_path_factory) -> Path:
    """A folder that is the laptop's whole site-packages: the client of the tree under test, and requests' closure."""
    site = tmp_path_factory.mktemp("laptop-site")
    (site / "client").symlink_to(ROOT / "client")
    for distribution in requirements("requests"):
        for module in (importlib.metadata.distribution(distribution).read_text("top_level.txt") or distribution).split():
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.origin, module
            source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
            (site / source.name).symlink_to(source)
    return site


@pytest.fixture
def client_env(client_user: ApiUser, laptop: Path, tmp_path: Path) -> dict[str, str]:
    """What a researcher's laptop has: a PATH, a home, the server's URL and their token."""
    home = str(tmp_path / "home")
    return {"PATH": "/usr/bin:/bin", "HOME": home, "LABQUEUE_URL": client_user.base_url, "LABQUEUE_TOKEN": client_user.token, "PYTHONPATH": str(laptop)}


def run(env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABQUEUE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def test_submit_a_folder_wait_and_download(client_env: dict[str, str], client_user: ApiUser, tmp_path: Path) -> None:
    project = tmp_path / "pump-analysis"
    (project / "__pycache__").mkdir(parents=True)
    (project / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    (project / "code.py").write_text(WRITES_CSV)
    (project / "calibration.txt").write_text("gain=2\n")

    out = tmp_path / "out"
    result = run(client_env, "submit", str(project), "--time-limit", "120", "--memory-limit", "512", "--download", str(out))

    assert result.returncode == 0, result.stderr
    job_id = result.stdout.strip()
    assert len(job_id) == 32
    assert "zipped 2 files" in result.stderr and "upload: 100%" in result.stderr
    assert f"{job_id} succeeded" in result.stderr and "1 output file in" in result.stderr
    assert (out / "tables" / "result.csv").read_text() == "sensor,mean\npump-7,0.42\n"
    job = client_user.get(f"/api/v1/jobs/{job_id}").json()
    assert (job["project"], job["time_limit"], job["memory_limit"]) == ("pump-analysis", 120, 512)


def test_a_refused_zip_says_why(client_env: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "octave.zip"
    archive.write_bytes(make_zip({"code.m": "disp(1)"}))

    result = run(client_env, "submit", str(archive), "--runtime", "python")

    assert result.returncode == 1 and result.stdout == ""
    assert "labqueue: The runtime chosen is python, but the project's entry file is code.m (matlab)." in result.stderr


def test_a_failed_job_fails_the_wait(client_env: dict[str, str], tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(make_zip({"code.py": "raise SystemExit(4)"}, top=None))

    result = run(client_env, "submit", str(archive), "--wait")

    assert result.returncode == 1
    assert "failed" in result.stderr


def test_a_failed_wait_and_follow_print_the_summary_and_hint(client_env: dict[str, str], client_user: ApiUser, tmp_path: Path) -> None:
    project = tmp_path / "análise-sinais"
    project.mkdir()
    (project / "code.py").write_text("print('loading')\nopen('/data/demo-sensors/readings.csv')\n")

    result = run(client_env, "submit", str(project), "--wait", "--name", "sem dataset")
    job_id = result.stdout.strip()
    followed = run(client_env, "logs", job_id[:8], "--follow")

    assert result.returncode == 1, result.stderr
    assert "Failed: exited with code 1" in result.stderr and "--- the end of the log ---" in result.stderr
    assert "> FileNotFoundError: [Errno 2] No such file or directory: '/data/demo-sensors/readings.csv'" in result.stderr
    assert "hint: The job reads /data/demo-sensors/" in result.stderr
    assert client_user.get(f"/api/v1/jobs/{job_id}").json()["name"] == "sem dataset"
    assert followed.returncode == 1 and "loading" in followed.stdout
    assert f"{job_id} failed: exited with code 1" in followed.stderr and "hint: The job reads /data/demo-sensors/" in followed.stderr


def test_jobs_lists_and_filters(client_env: dict[str, str], client_user: ApiUser) -> None:
    job = client_user.submit(make_zip({"code.py": "print('listed')"}, top="listed-project")).json()
    client_user.wait(job["id"])

    everything = run(client_env, "jobs")
    only_failed = run(client_env, "jobs", "--status", "failed", "--project", "listed")

    assert everything.returncode == 0, everything.stderr
    header, *rows = everything.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "RUNTIME", "PROJECT", "SUBMITTED", "DURATION"]
    assert any(row.startswith(job["id"]) and "succeeded" in row and "listed-project" in row for row in rows)
    assert job["id"] not in only_failed.stdout and "page 1 of 1" in only_failed.stderr


def test_logs_follow_a_running_job_to_its_end(client_env: dict[str, str], client_user: ApiUser) -> None:
    job = client_user.submit(make_zip({"code.py": TICKS})).json()
    client_user.wait(job["id"], until={"running"})

    followed = run(client_env, "logs", job["id"], "--follow")
    printed = run(client_env, "logs", job["id"])

    assert followed.returncode == 0, followed.stderr
    assert [line for line in followed.stdout.splitlines() if line.startswith("tick")] == [f"tick {i}" for i in range(5)]
    assert printed.stdout == client_user.get(f"/api/v1/jobs/{job['id']}/log").text


def test_cancel_stops_a_running_job(client_env: dict[str, str], client_user: ApiUser) -> None:
    job = client_user.submit(make_zip({"code.py": SLEEPS})).json()
    client_user.wait(job["id"], until={"running"})

    result = run(client_env, "cancel", job["id"])

    assert result.returncode == 0, result.stderr
    assert client_user.wait(job["id"], timeout=60)["status"] == "cancelled"
    again = run(client_env, "cancel", job["id"])
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_settings_come_from_the_config_file(client_env: dict[str, str], client_user: ApiUser) -> None:
    config = Path(client_env["HOME"]) / ".config" / "labqueue" / "config.ini"
    config.parent.mkdir(parents=True)
    config.write_text(f"[labqueue]\nurl = {client_user.base_url}\ntoken = {client_user.token}\n")
    config.chmod(0o600)
    env = {key: value for key, value in client_env.items() if not key.startswith("LABQUEUE_")}

    assert run(env, "jobs").returncode == 0
    config.unlink()
    missing = run(env, "jobs")
    assert missing.returncode == 1 and "LABQUEUE_URL" in missing.stderr


def test_a_wrong_token_is_refused(client_env: dict[str, str]) -> None:
    result = run({**client_env, "LABQUEUE_TOKEN": "lq_wrong"}, "jobs")
    assert result.returncode == 1 and "Authorization" in result.stderr


ESCAPES = r"""
import sys
sys.stdout.write("title \x1b]0;pwned\x07set\n")
sys.stdout.write("link \x1b]8;;http://evil.example/\x1b\\harmless\x1b]8;;\x1b\\ text\n")
sys.stdout.write("\x1b[2J\x1b[Hcleared \x1b[10;5Hmoved\n")
sys.stdout.write("\x1b[31mred\x1b[0m plain\n")
sys.stdout.write("secret\rshown over\n")
sys.stdout.write("bell\x07 back\x08space\n")
"""


def test_logs_strip_terminal_control_sequences(client_env: dict[str, str], client_user: ApiUser) -> None:
    job = client_user.submit(make_zip({"code.py": ESCAPES})).json()
    assert client_user.wait(job["id"])["status"] == "succeeded"
    assert "\x1b]0;pwned" in client_user.get(f"/api/v1/jobs/{job['id']}/log").text  # the log itself is kept as it was

    printed = run(client_env, "logs", job["id"])

    assert printed.returncode == 0, printed.stderr
    lines = [line for line in printed.stdout.splitlines() if not line.startswith("[labqueue]")]
    assert lines == ["title set", "link harmless text", "cleared moved", "red plain", "secret", "shown over", "bell backspace"]
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in printed.stdout)

    # On a terminal the colours stay, and only they.
    leader, follower = pty.openpty()
    with subprocess.Popen([*LABQUEUE, "logs", job["id"]], env=client_env, stdout=follower, stderr=subprocess.DEVNULL) as process:
        os.close(follower)
        shown = b""
        while chunk := _read(leader):
            shown += chunk
        assert process.wait(timeout=60) == 0
    os.close(leader)
    assert b"\x1b[31mred\x1b[0m plain" in shown
    assert shown.replace(b"\x1b[31m", b"").replace(b"\x1b[0m", b"").count(b"\x1b") == 0


def _read(fd: int) -> bytes:
    """A pty's output until its writer closed it (Linux then answers EIO)."""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def test_show_download_and_resubmit_a_job_by_its_prefix(client_env: dict[str, str], client_user: ApiUser, tmp_path: Path) -> None:
    first = client_user.submit(make_zip({"code.py": WRITES_CSV}), name="pump run").json()
    client_user.wait(first["id"])

    shown = run(client_env, "show", first["id"][:6])
    fetched = run(client_env, "download", first["id"][:6], "--to", str(tmp_path / "out"), cwd=tmp_path)
    again = run(client_env, "resubmit", first["id"][:6], "--wait")

    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines() if line.strip() and not line.startswith("peak"))
    assert (fields["name"], fields["id"], fields["status"]) == ("pump run", first["id"], "succeeded: exited with code 0")
    assert fields["limits"].endswith("1 GiB memory, 4 GiB disk") and fields["page"].endswith(f"/jobs/{first['id']}")
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "out" / "tables" / "result.csv").read_text() == "sensor,mean\npump-7,0.42\n"
    assert again.returncode == 0, again.stderr
    second = client_user.get(f"/api/v1/jobs/{again.stdout.strip()}").json()
    assert second["id"] != first["id"] and (second["status"], second["name"]) == ("succeeded", "pump run")


def test_show_of_a_failed_job_says_why_and_an_unknown_job_is_one_line(client_env: dict[str, str], client_user: ApiUser) -> None:
    job = client_user.submit(make_zip({"code.py": "raise ValueError('bad calibration')"})).json()
    client_user.wait(job["id"])

    shown = run(client_env, "show", job["id"])
    unknown = run(client_env, "download", "0000abcd")

    assert shown.returncode == 0 and re.search(r"^status +failed: exited with code 1$", shown.stdout, re.MULTILINE), shown.stdout
    assert "> ValueError: bad calibration" in shown.stderr
    assert unknown.returncode == 1 and unknown.stderr.strip().splitlines() == ["labqueue: no such job"]


def test_datasets_lists_what_a_job_can_mount(client_env: dict[str, str], client_user: ApiUser) -> None:
    name = f"cli-{secrets.token_hex(3)}"
    made = client_user.post("/api/v1/datasets", data={"name": name, "description": "line 7 pumps"}, files={"file": ("notes.txt", "a,b\n1,2\n")})
    assert made.status_code == 201, made.text

    listed = run(client_env, "datasets")

    assert listed.returncode == 0, listed.stderr
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(name + " "))
    assert row[:5] == [name, "1", "1", "8", "B"] and "line 7 pumps" in " ".join(row)


def test_a_wrong_url_is_one_line(client_env: dict[str, str]) -> None:
    result = run({**client_env, "LABQUEUE_URL": "http://127.0.0.1:1"}, "jobs")

    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("labqueue: cannot reach http://127.0.0.1:1")
