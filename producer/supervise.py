"""A service of several threads lives and dies as one: when a part fails, the others stop and the process exits
non-zero, so its supervisor (Compose, Swarm, systemd) restarts it whole instead of leaving it half-alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

LOGGER = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30.0


def run_parts(parts: Mapping[str, Callable[[], None]], stop: threading.Event, grace: float = STOP_GRACE_SECONDS) -> int:
    """Run each part in a thread of its own until ``stop`` is set or a part raises; the exit status: 0 after a
    clean stop, 1 when a part failed or did not stop within ``grace`` seconds (its thread is a daemon: it cannot
    keep the process up)."""
    failed: list[str] = []

    def guarded(name: str, part: Callable[[], None]) -> None:
        try:
            part()
        except Exception:
            LOGGER.exception("the %s failed; stopping the producer", name)
            failed.append(name)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(name, part), name=name, daemon=True) for name, part in parts.items()]
    for thread in threads:
        thread.start()
    while not stop.wait(1.0):  # a timed wait, so the main thread runs its signal handlers promptly
        pass
    for thread in threads:
        thread.join(grace)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        LOGGER.error("%s did not stop within %.0f s; exiting anyway", ", ".join(stuck), grace)
    return 1 if failed or stuck else 0
