"""The test bed itself: its servers listen on loopback and the bridge only, and its hosts reach nothing beyond the
bridge, so every byte of a multi-host test stays on this machine."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

from tests.multihost.bed import Bed, BedStack


def listening(session: int) -> set[str]:
    """The addresses the processes of a session (a server and its children) listen on, as ``ss`` prints them."""
    found = set()
    for line in subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        for pid in (int(part.split("=")[1]) for part in fields[-1].split(",") if part.startswith("pid=")):
            try:
                if os.getsid(pid) == session:
                    found.add(fields[3].rsplit(":", 1)[0])
            except ProcessLookupError:
                pass
    return found


def test_the_main_hosts_servers_listen_on_loopback_and_the_bridge_only(bed: Bed, bed_stack: BedStack) -> None:
    for server in (bed_stack.broker, bed_stack.store):
        assert server.popen is not None
        addresses = listening(server.popen.pid)
        assert bed.main in addresses, f"{server.name} is not on the bridge: {addresses}"
        assert addresses <= {bed.main, "127.0.0.1"}, f"{server.name} listens on {addresses}"


def outside_address() -> str:
    """An address of this machine that is neither loopback nor the test bed's."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if not ipaddress.ip_address(address).is_loopback and not line.split()[1].startswith("lqtb"):
            return address
    raise AssertionError(f"no address outside the test bed:\n{out}")


PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("connected")
except OSError as exc:
    print(type(exc).__name__, exc.errno)
"""


def test_a_worker_host_reaches_the_bridge_and_nothing_beyond(bed: Bed, bed_stack: BedStack) -> None:
    host = bed.hosts["w1"]
    broker_port = str(bed_stack.broker.port)

    def probe(address: str, port: str) -> str:
        args = ["scripts/testbed.sh", "exec", host.key, sys.executable, "-c", PROBE, address, port]
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.strip()

    assert probe(bed.main, broker_port) == "connected"
    # The machine's own address outside the bed: no route from a worker host (ENETUNREACH), though it listens there.
    assert probe(outside_address(), "22") == "OSError 101"


LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], 0))
print("listening", server.getsockname()[1], flush=True)
server.settimeout(60)
server.accept()[0].close()
"""


def test_worker_hosts_reach_each_other_on_the_bridge(bed: Bed, tmp_path) -> None:
    """Frames between two hosts cross the bridge, where the machine's FORWARD policy (Docker's DROP) applies."""
    w1, w2 = bed.hosts["w1"], bed.hosts["w2"]
    listener = w2.start("listener-w2", [sys.executable, "-c", LISTENER, w2.address], {"PATH": os.environ["PATH"]}, tmp_path)
    try:
        listener.wait_for_log("listening", timeout=30)
        port = listener.log().split()[1]
        args = ["scripts/testbed.sh", "exec", w1.key, sys.executable, "-c", PROBE, w2.address, port]
        assert subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.strip() == "connected"
    finally:
        listener.stop()
