"""A service started with a bad setting stops at once, non-zero, with the variable and the expected form on stderr,
and no traceback (the processes as the launchers start them; nothing is reached before the settings are read)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def start(command: list[str], **bad: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LABQUEUE_BROKER_URL": "amqp://nobody:nothing@127.0.0.1:9/", **bad}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize(
    ("command", "variable", "value", "expected"),
    [
        ([sys.executable, "-m", "consumer", "--runtime", "python"], "LABQUEUE_MAX_TIME_LIMIT", "lots", "a whole number of seconds between 1 and 604800"),
        ([sys.executable, "-m", "producer"], "LABQUEUE_DELIVERY_LIMIT", "often", "a whole number between 1 and 100"),
        (
            [str(GUNICORN), "--config", str(ROOT / "webapp" / "gunicorn_conf.py"), "--bind", "127.0.0.1:0", "webapp:create_app()"],
            "LABQUEUE_WEB_WORKERS",
            "many",
            "a whole number between 1 and 256",
        ),
    ],
    ids=["consumer", "producer", "web"],
)
def test_a_bad_value_stops_the_process_with_its_name_and_form(command: list[str], variable: str, value: str, expected: str) -> None:
    result = start(command, **{variable: value})
    assert result.returncode != 0
    assert f"{variable}: expected {expected}, got {value!r}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
