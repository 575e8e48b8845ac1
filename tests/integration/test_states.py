"""Every terminal state, reached by a job made to reach it, and for no other reason."""

from __future__ import annotations

import time

from tests.conftest import ApiUser, make_zip, read_zip


def run(user: ApiUser, code: str, **fields: str) -> dict:
    response = user.submit(make_zip({"code.py": code}), **fields)
    assert response.status_code == 201, response.text
    return user.wait(response.json()["id"])


def test_succeeded(user: ApiUser, python_consumer) -> None:
    job = run(user, "print('ok')")
    assert (job["status"], job["exit_code"]) == ("succeeded", 0)
    assert job["usage"]["wall_seconds"] is not None


def test_failed_with_exit_code(user: ApiUser, python_consumer) -> None:
    job = run(user, "raise SystemExit(7)")
    assert (job["status"], job["exit_code"]) == ("failed", 7)


def test_uncaught_exception_is_failed_with_traceback(user: ApiUser, python_consumer) -> None:
    job = run(user, "1 / 0")
    assert (job["status"], job["exit_code"]) == ("failed", 1)
    assert "ZeroDivisionError" in user.get(f"/api/v1/jobs/{job['id']}/log").text


def test_timed_out_at_the_wall_clock_limit_keeps_partial_output(user: ApiUser, python_consumer) -> None:
    code = "import time, pathlib\npathlib.Path('output').mkdir(exist_ok=True)\npathlib.Path('output/partial.txt').write_text('so far')\nprint('sleeping', flush=True)\ntime.sleep(600)\n"
    job = run(user, code, time_limit="3")
    assert job["status"] == "timed_out"
    assert "3 s" in job["reason"]
    assert read_zip(user.get(f"/api/v1/jobs/{job['id']}/output").content) == {"partial.txt": b"so far"}


def test_out_of_memory_from_the_oom_kill(user: ApiUser, python_consumer) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 2**20))\n"
    job = run(user, code, memory_limit="64")
    assert job["status"] == "out_of_memory", job
    assert "64 MiB" in job["reason"]


def test_memory_error_handled_by_the_job_is_not_out_of_memory(user: ApiUser, python_consumer) -> None:
    """A job that catches its MemoryError and exits 1 failed; only the kernel's OOM kill means out_of_memory."""
    code = "try:\n    x = bytearray(2**40)\nexcept MemoryError:\n    print('too big')\n    raise SystemExit(1)\n"
    job = run(user, code, memory_limit="64")
    assert (job["status"], job["exit_code"]) == ("failed", 1)


def test_output_too_large(user: ApiUser, python_consumer, test_env) -> None:
    cap = int(test_env["LABQUEUE_MAX_OUTPUT_MIB"])
    code = f"import os, pathlib\npathlib.Path('output').mkdir(exist_ok=True)\npathlib.Path('output/big.bin').write_bytes(os.urandom({cap + 1} * 2**20))\n"
    job = run(user, code)
    assert job["status"] == "output_too_large"
    assert job["output_key"] is None


def test_log_is_capped_head_and_tail(user: ApiUser, python_consumer, test_env) -> None:
    code = "for i in range(200000):\n    print(f'line {i:06d} ' + 'x' * 40)\n"
    job = run(user, code)
    assert job["status"] == "succeeded"
    log = user.get(f"/api/v1/jobs/{job['id']}/log").text
    assert log.startswith("line 000000")
    assert log.rstrip().endswith("line 199999 " + "x" * 40)
    assert "bytes of log cut here" in log
    assert len(log.encode()) <= int(test_env["LABQUEUE_MAX_LOG_MIB"]) * 2**20 + 200


def test_limits_above_the_maximum_are_refused(user: ApiUser, test_env) -> None:
    too_long = user.submit(make_zip({"code.py": "print(1)"}), time_limit=str(int(test_env["LABQUEUE_MAX_TIME_LIMIT"]) + 1))
    assert too_long.status_code == 422 and too_long.json()["error"] == "limit_exceeded"
    too_big = user.submit(make_zip({"code.py": "print(1)"}), memory_limit=str(int(test_env["LABQUEUE_MAX_MEMORY_MIB"]) + 1))
    assert too_big.status_code == 422


def test_live_log_while_running(user: ApiUser, python_consumer) -> None:
    code = "import time\nprint('first line', flush=True)\ntime.sleep(12)\nprint('last line')\n"
    job_id = user.submit(make_zip({"code.py": code})).json()["id"]
    user.wait(job_id, until={"running"})
    deadline = time.monotonic() + 10
    while "first line" not in user.get(f"/api/v1/jobs/{job_id}/log").text:
        assert time.monotonic() < deadline, "the log did not show the first line while running"
        time.sleep(0.5)
    assert user.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"
    assert user.wait(job_id)["status"] == "succeeded"
