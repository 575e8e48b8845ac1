"""scripts/lib.sh's helpers run in bash against fakes on PATH: nothing here touches the machine's apt, its
/usr/sbin/policy-rc.d or a process the test did not start."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib.sh"

FAKE_APT = """#!/bin/sh
# update answers at once; install says it started, then takes its time (the test interrupts it)
if [ "$1" = update ]; then exit 0; fi
touch "$FAKE_DIR/apt-started"
exec sleep 60
"""
FAKE_DPKG_QUERY = "#!/bin/sh\nexit 1\n"  # nothing is installed yet
FAKE_ID = "#!/bin/sh\necho 0\n"  # need_root passes without root


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in {"apt-get": FAKE_APT, "dpkg-query": FAKE_DPKG_QUERY, "id": FAKE_ID}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def bash(script: str, tmp_path: Path, **popen: object) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "FAKE_DIR": str(tmp_path),
        "LABQUEUE_VAR": str(tmp_path / "var"),
        "LABQUEUE_POLICY_RC": str(tmp_path / "policy-rc.d"),
    }
    return subprocess.Popen(["bash", "-c", f'. "{LIB}"; {script}'], env=env, **popen)  # type: ignore[call-overload]


def interrupt_apt_install(tmp_path: Path, sig: signal.Signals) -> int:
    """Run apt_install in a session of its own, signal the whole session (as Ctrl-C or a service stop does) once
    the fake apt runs, and return the shell's exit status."""
    proc = bash("apt_install some-package", tmp_path, start_new_session=True)
    started = tmp_path / "apt-started"
    while not started.exists() and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "apt_install never ran apt-get install"
    os.killpg(proc.pid, sig)
    return proc.wait(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_apt_install_leaves_no_policy_file(fakes: Path, sig: signal.Signals) -> None:
    status = interrupt_apt_install(fakes, sig)
    assert status != 0
    assert not (fakes / "policy-rc.d").exists()


def test_an_admins_own_policy_file_survives_an_interrupted_install(fakes: Path) -> None:
    policy = fakes / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the admin's\nexit 0\n")
    interrupt_apt_install(fakes, signal.SIGTERM)
    assert policy.read_text() == "#!/bin/sh\n# the admin's\nexit 0\n"


def test_a_finished_install_drops_the_policy_and_restores_the_callers_trap(fakes: Path) -> None:
    (fakes / "bin" / "apt-get").write_text('#!/bin/sh\n[ "$1" = update ] || test -x "$LABQUEUE_POLICY_RC"\n')  # present while apt runs
    proc = bash("trap 'echo caller-trap' EXIT; apt_install some-package", fakes, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert not (fakes / "policy-rc.d").exists()
    assert out.decode().strip().endswith("caller-trap")


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process labqueue did not start, holding a pid a stale pidfile could name."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_stale_pidfile_never_kills_a_stranger(tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    run = tmp_path / "var" / "run"
    run.mkdir(parents=True)
    pidfile = run / "producer.pid"
    pidfile.write_text(f"{stranger.pid} 1\n")  # its pid, but another process's start time: a pid reused since
    proc = bash("stop_pidfile producer", tmp_path, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert stranger.poll() is None, "stop_pidfile killed a process it did not start"
    assert not pidfile.exists()
    assert b"stale pid file" in out


def test_a_pid_only_pidfile_is_not_trusted(tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    """The old format (a bare pid) says nothing about which process it meant."""
    run = tmp_path / "var" / "run"
    run.mkdir(parents=True)
    (run / "web.pid").write_text(f"{stranger.pid}\n")
    assert bash("stop_pidfile web", tmp_path, stdout=subprocess.DEVNULL).wait(timeout=30) == 0
    assert stranger.poll() is None
    assert not (run / "web.pid").exists()


def test_a_live_pidfile_stops_its_own_process(tmp_path: Path) -> None:
    run = tmp_path / "var" / "run"
    run.mkdir(parents=True)
    ours = subprocess.Popen(["sleep", "300"])
    try:
        assert bash(f"write_pidfile {run / 'producer.pid'} {ours.pid}", tmp_path).wait(timeout=30) == 0
        assert bash("stop_pidfile producer", tmp_path, stdout=subprocess.DEVNULL).wait(timeout=30) == 0
        assert ours.wait(timeout=30) == -signal.SIGTERM
        assert not (run / "producer.pid").exists()
    finally:
        ours.kill()
        ours.wait()
